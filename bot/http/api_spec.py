"""The OpenAPI description of the HTTP approval API (:mod:`bot.http.api`), served at
``GET /api/openapi.json``: generated from the models the API validates bodies with and answers
in (:mod:`bot.http.api_models`); only the paths and the prose are written here."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from bot.http import api_models as m

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
Answer = tuple[str, list[type[BaseModel]]]  # a description, and the models it may be
_COMMON: dict[int, Answer] = {
    401: ("Missing bearer token, or one that is not configured in API_TOKENS", [m.Error]),
    403: (
        "The token names someone else (`by`, `requester`, `as`) but is not configured with "
        "`on_behalf`; `field` names the field",
        [m.FieldError],
    ),
    422: ("A malformed body; `field` names what to fix", [m.FieldError]),
}
_NOT_FOUND: Answer = (
    "No such run, or one the caller may not see (the same answer for both)",
    [m.Error],
)
_BUSY: Answer = ("The run is busy carrying out a step; nothing changed: retry", [m.Busy])


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    summary: str
    answers: dict[int, Answer]
    body: type[m.Body] | None = None
    query: type[m.Body] | None = None
    guarded: bool = True  # needs a bearer token
    parameters: list[dict[str, Any]] = field(default_factory=list)


_RUN = {
    "name": "run",
    "in": "path",
    "required": True,
    "schema": {"type": "string"},
    "description": "The run id or its start (at least 4 characters)",
}


def operations(start_run: type[m.StartRun]) -> list[Operation]:
    """What the API serves, with the start body that lists this deployment's graphs."""
    return [
        Operation(
            "get",
            "/api/openapi.json",
            "This document",
            {200: ("The OpenAPI document", [])},
            guarded=False,
        ),
        Operation(
            "post",
            "/api/runs",
            "Start a run",
            {
                201: ("The run, started", [m.RunAnswer]),
                **_COMMON,
                403: (
                    "The token names someone else but is not configured with `on_behalf` "
                    "(`field`: requester), or the requester is not a member of `channel`, or "
                    "the bot cannot see it (`field`: channel)",
                    [m.FieldError],
                ),
                503: (
                    "Slack could not say whether the requester is in `channel`; nothing "
                    "started: retry",
                    [m.Busy],
                ),
            },
            body=start_run,
        ),
        Operation(
            "get",
            "/api/runs/{run}",
            "A run: its state, what it waits for, its decisions and timeline",
            {
                200: ("The run", [m.RunDetail]),
                404: _NOT_FOUND,
                409: ("The id's start names several runs you may see", [m.Error]),
                **_COMMON,
            },
            query=m.ReadQuery,
            parameters=[_RUN],
        ),
        Operation(
            "post",
            "/api/runs/{run}/decision",
            "Approve, reject or edit what a run waits for",
            {
                200: ("Decided: this decision won", [m.Decided]),
                202: ("A vote counted; more signatures are needed", [m.Counted]),
                404: _NOT_FOUND,
                409: (
                    "Refused, already decided, this token already voted on the request as "
                    "someone else, or the agent refused the decision (the run did not go past "
                    "the pause: the request is open again); `error` says why",
                    [m.AgentRefused, m.NotDecided, m.Error],
                ),
                503: _BUSY,
                **_COMMON,
            },
            body=m.DecisionBody,
            parameters=[_RUN],
        ),
    ]


def openapi(start_run: type[m.StartRun]) -> dict[str, Any]:
    """The OpenAPI 3.1 document: JSON Schema 2020-12 from the models, under components."""
    ops = operations(start_run)
    models: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for op in ops:
        if op.body is not None:
            models[op.body, "validation"] = None
        for _, shapes in op.answers.values():
            models.update(dict.fromkeys((shape, "serialization") for shape in shapes))
    refs, top = models_json_schema(list(models), ref_template="#/components/schemas/{model}")
    paths: dict[str, dict[str, Any]] = {}
    for op in ops:
        paths.setdefault(op.path, {})[op.method] = _operation(op, refs)
    return {
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
            "schemas": top.get("$defs", {}),
        },
        "security": [{"bearer": []}],
        "paths": paths,
    }


def _operation(op: Operation, refs: dict[Any, dict[str, Any]]) -> dict[str, Any]:
    described: dict[str, Any] = {"summary": op.summary}
    parameters = [*op.parameters, *_query(op.query)]
    if parameters:
        described["parameters"] = parameters
    if op.body is not None:
        schema = refs[op.body, "validation"]
        described["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": schema}},
        }
    described["responses"] = {
        str(status): _answer(text, [refs[shape, "serialization"] for shape in shapes])
        for status, (text, shapes) in sorted(op.answers.items())
    }
    if not op.guarded:
        described["security"] = []
    return described


def _answer(text: str, schemas: list[dict[str, Any]]) -> dict[str, Any]:
    if not schemas:
        return {"description": text}
    schema = schemas[0] if len(schemas) == 1 else {"anyOf": schemas}
    return {"description": text, "content": {"application/json": {"schema": schema}}}


def _query(model: type[m.Body] | None) -> list[dict[str, Any]]:
    """One query parameter a field: its schema is the field's, as the model validates it."""
    if model is None:
        return []
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    parameters = []
    for name, property_schema in schema["properties"].items():
        prop = {k: v for k, v in property_schema.items() if k not in ("title", "default")}
        description = prop.pop("description", None)
        if name not in required and "anyOf" in prop:  # absent, not null: a query has no null
            [prop] = [s for s in prop.pop("anyOf") if s != {"type": "null"}]
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters
