"""The OpenAPI description of the HTTP approval API (:mod:`bot.http.api`), served at
``GET /api/openapi.json``."""

from __future__ import annotations

from typing import Any

_USER_ID = {"type": "string", "pattern": "^[UW][A-Z0-9]{2,}$"}
_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
_INVALID = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
}
_RESPONSES = {
    "401": {"description": "Missing bearer token, or one that is not configured in API_TOKENS"},
    "403": {
        "description": "The token names someone else (`by`, `requester`, `as`) but is not "
        "configured with `on_behalf`; `field` names the field"
    },
    "422": {"description": "A malformed body; `field` names what to fix"},
}
_NOT_FOUND = {
    "description": "No such run, or one the caller may not see (the same answer for both)"
}
_RUN = {"name": "run", "in": "path", "required": True, "description": "The run id or its start"}
_AS = {
    "name": "as",
    "in": "query",
    "required": False,
    "schema": _USER_ID,
    "description": "An `on_behalf` token: read as this Slack user (default: the token's own)",
}
_SECURITY = (
    "Every call sends `Authorization: Bearer <token>`. Each token is one principal, configured "
    "in `API_TOKENS` or `API_TOKENS_FILE` and bound to one Slack user: what it does, it does "
    "as that user, recorded with `via: api`. A token configured with `on_behalf` may name "
    "another Slack user (`by`, `requester`, `as`); that is recorded as done on their behalf by "
    "the token, and the token is still one signer: it cannot vote on a request twice, "
    "whoever it names. Reads show a run only to the people Slack shows it to (its requester, "
    "the approvers of its requests and ADMINS), as the user the call acts as; any other run "
    "is a 404, like a run that does not exist."
)


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Approval bot API",
        "version": "2",
        "description": "Start runs, read where they stand, and decide what they wait for. "
        "Decisions follow the same rules as the Slack buttons and update the Slack card. "
        + _SECURITY,
    },
    "components": {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        "schemas": {"Error": _ERROR, "Invalid": _INVALID},
    },
    "security": [{"bearer": []}],
    "paths": {
        "/api/runs": {
            "post": {
                "summary": "Start a run",
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["request", "channel"],
                        "properties": {
                            "request": {"type": "string", "maxLength": 4000},
                            "requester": {
                                **_USER_ID,
                                "description": "Default: the token's user; another user "
                                "only with an `on_behalf` token",
                            },
                            "channel": {"type": "string", "pattern": "^[CGD][A-Z0-9]{2,}$"},
                            "graph": {"type": "string"},
                        },
                    }
                ),
                "responses": {"201": {"description": "The run, started"}, **_RESPONSES},
            }
        },
        "/api/runs/{run}": {
            "get": {
                "summary": "A run: its state, what it waits for, its decisions and timeline",
                "parameters": [_RUN, _AS],
                "responses": {
                    "200": {"description": "The run"},
                    "404": _NOT_FOUND,
                    "409": {"description": "The id's start names several runs you may see"},
                    **_RESPONSES,
                },
            }
        },
        "/api/runs/{run}/decision": {
            "post": {
                "summary": "Approve, reject or edit what a run waits for",
                "parameters": [_RUN],
                "requestBody": _json_body(
                    {
                        "type": "object",
                        "required": ["decision"],
                        "properties": {
                            "decision": {"enum": ["approve", "reject", "edit"]},
                            "by": {
                                **_USER_ID,
                                "description": "The Slack user deciding. Default: the "
                                "token's user; another user only with an `on_behalf` token",
                            },
                            "request": {
                                "type": "string",
                                "description": "Which request, when several wait",
                            },
                            "reason": {"type": "string"},
                            "version": {
                                "type": "integer",
                                "minimum": 1,
                                "description": "The version of the request decided on, as "
                                "GET shows it (default 1); a vote for an older one is refused",
                            },
                            "values": {
                                "type": "object",
                                "description": "An edit: the edited fields by name",
                            },
                        },
                    }
                ),
                "responses": {
                    "200": {"description": "Decided: this decision won"},
                    "202": {"description": "A vote counted; more signatures are needed"},
                    "404": _NOT_FOUND,
                    "409": {
                        "description": "Refused, already decided, or this token already "
                        "voted on the request as someone else; `error` says why"
                    },
                    **_RESPONSES,
                },
            }
        },
    },
}
