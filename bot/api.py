"""The HTTP approval API, for tools outside Slack: start a run, read where it stands, decide.

On only when ``API_TOKEN`` is set; every call then needs ``Authorization: Bearer <API_TOKEN>``.
A decision names the Slack user who takes it and goes through the very path a button click
does: the same who-may-decide rules, the same exactly-once claim, and the same card update in
Slack. The OpenAPI description is at ``GET /api/openapi.json``.
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot import forms
from bot.audit import Audit
from bot.engine import Engine, already_decided
from bot.models import Approval, Decision, Run, RunRequest
from bot.policy import who_may
from bot.store import Store

_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_RUN = re.compile(r"^[0-9a-f]{4,32}$")
MAX_BODY = 100_000
Handler = Callable[[Request], Awaitable[Response]]


class Invalid(Exception):
    """A body the API cannot take: answered 422, naming the field."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


@dataclass
class Api:
    token: str
    store: Store
    engine: Engine
    audit: Audit
    graphs: list[str]
    default_graph: str
    approvals_channel: str | None = None  # APPROVALS_CHANNEL: where cards go, as for /agent

    def routes(self) -> list[Route]:
        return [
            Route("/api/openapi.json", self._spec, methods=["GET"]),
            Route("/api/runs", self._guarded(self._start), methods=["POST"]),
            Route("/api/runs/{run}", self._guarded(self._read), methods=["GET"]),
            Route("/api/runs/{run}/decision", self._guarded(self._decide), methods=["POST"]),
        ]

    # plumbing -----------------------------------------------------------------------------
    def _guarded(self, handler: Handler) -> Handler:
        async def guarded(request: Request) -> Response:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not token:
                return _error(401, "Send Authorization: Bearer <API_TOKEN>.")
            if not hmac.compare_digest(token.strip().encode(), self.token.encode()):
                return _error(401, "That bearer token is not the API_TOKEN.")
            try:
                return await handler(request)
            except Invalid as problem:
                return JSONResponse(
                    {"error": str(problem), "field": problem.field}, status_code=422
                )

        return guarded

    async def _spec(self, _: Request) -> Response:
        return JSONResponse(OPENAPI)

    # POST /api/runs -----------------------------------------------------------------------
    async def _start(self, request: Request) -> Response:
        body = await _body(request)
        text = _text(body, "request", 4000)
        requester = _id(body, "requester", _USER, "a Slack user id (U…)")
        channel = _id(body, "channel", _CHANNEL, "a Slack channel id (C…)")
        graph = body.get("graph", self.default_graph)
        if graph not in self.graphs:
            raise Invalid("graph", f"graph must be one of: {', '.join(self.graphs)}")
        cards = self.approvals_channel or channel
        run = await run_in_threadpool(
            self.engine.start, RunRequest(graph, text, requester, channel, cards)
        )
        return JSONResponse(_run_json(run), status_code=201)

    # GET /api/runs/{run} ------------------------------------------------------------------
    async def _read(self, request: Request) -> Response:
        found = await run_in_threadpool(self._find, request.path_params["run"])
        if isinstance(found, Response):
            return found
        return JSONResponse(await run_in_threadpool(self._describe, found))

    def _find(self, text: str) -> Run | Response:
        if not _RUN.fullmatch(text):
            return _error(404, "Run ids are hex, as the bot prints them.")
        runs = self.store.runs_by_prefix(text)
        if len(runs) != 1:
            return _error(404 if not runs else 409, "No such run." if not runs else "Ambiguous.")
        return runs[0]

    def _describe(self, run: Run) -> dict[str, Any]:
        approvals = self.store.run_approvals(run.thread_id)
        return {
            **_run_json(run),
            "pending": [self._pending_json(a) for a in approvals if a.pending],
            "decided": [_decided_json(a) for a in approvals if not a.pending],
            "timeline": [
                {"at": e.at, "event": e.event, "actor": e.actor, "request": e.approval_id}
                | ({"detail": e.detail} if e.detail else {})
                for e in self.audit.for_run(run.thread_id)
            ],
        }

    def _pending_json(self, approval: Approval) -> dict[str, Any]:
        sign_off, stage = self.engine.signing.stage_of(approval)
        review = approval.review
        proposals = review.proposals if review else ()
        return {
            "request": approval.id,
            "kind": review.summary if review else "",
            "title": review.title if review else "",
            "choices": list(proposals[0].choices) if len(proposals) == 1 else ["approve", "reject"],
            "fields": [f.name for f in proposals[0].form] if len(proposals) == 1 else [],
            "stage": sign_off.label(approval.stage) or None,
            "who_may_decide": who_may(stage, approval.requester),
            "created_at": approval.created_at,
        }

    # POST /api/runs/{run}/decision --------------------------------------------------------
    async def _decide(self, request: Request) -> Response:
        body = await _body(request)
        kind = body.get("decision")
        if kind not in ("approve", "reject", "edit"):
            raise Invalid("decision", "decision must be approve, reject or edit")
        by = _id(body, "by", _USER, "the Slack user id (U…) of the person deciding")
        return await run_in_threadpool(self._decided, request.path_params["run"], kind, by, body)

    def _decided(self, run_id: str, kind: str, by: str, body: dict[str, Any]) -> Response:
        """Decide as a click would, the graph resumed in the background; what happened."""
        found = self._find(run_id)
        if isinstance(found, Response):
            return found
        approval = _which(self.store.run_approvals(found.thread_id), body.get("request"))
        if isinstance(approval, Response):
            return approval
        decision = _decision(approval, kind, by, body)
        told: list[str] = []

        def tell(_channel: str, _user: str, text: str) -> None:
            told.append(text)

        won = self.engine.decide(approval.id, decision, tell=tell, background=True)
        latest = self.store.get_approval(approval.id) or approval
        if won:
            return JSONResponse({"decided": True, "request": approval.id, "status": latest.status})
        note = told[-1] if told else "Nothing changed."
        if latest.pending and note.startswith(("Recorded", "You've already voted")):
            return JSONResponse(
                {"decided": False, "request": approval.id, "status": "pending", "note": note},
                status_code=202,
            )
        return JSONResponse({"decided": False, "request": approval.id, "error": note}, 409)


def _which(approvals: list[Approval], wanted: Any) -> Approval | Response:
    """The request to decide: the one named, else the one the run waits on."""
    if wanted is not None:
        match = [a for a in approvals if a.id == wanted]
        if not match:
            return _error(409, f"Run has no request {wanted!s:.40}.")
        return match[0]  # decided already: the engine says by whom
    pending = [a for a in approvals if a.pending]
    if not pending and approvals:
        return _error(409, already_decided(approvals[-1]))
    if not pending:
        return _error(409, "This run is not waiting for a decision yet.")
    if len(pending) > 1:
        raise Invalid("request", "this run waits on several requests: name one in `request`")
    return pending[0]


def _decision(approval: Approval, kind: str, by: str, body: dict[str, Any]) -> Decision:
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise Invalid("reason", "reason must be a string")
    if kind != "edit":
        return Decision(kind, by, reason=reason[:2000] if reason else None)
    review = approval.review
    if review is None or len(review.proposals) != 1 or not review.proposals[0].form:
        raise Invalid("decision", "this request cannot be edited; approve or reject it")
    values = body.get("values")
    if not isinstance(values, dict):
        raise Invalid("values", "an edit needs `values`: the edited fields by name")
    form = review.proposals[0].form
    unknown = set(values) - {f.name for f in form}
    if unknown:
        raise Invalid(f"values.{sorted(unknown)[0]}", "no such field on this request")
    raw = {
        name: value if isinstance(value, str) or value is None else json.dumps(value)
        for name, value in values.items()
    }
    read, errors = forms.read(form, {f.name: raw.get(f.name, forms.initial_text(f)) for f in form})
    if errors:
        name, problem = next(iter(errors.items()))
        raise Invalid(f"values.{name}", problem)
    if review.shape == "draft":
        return Decision("edit", by, text=read.get("text"))
    return Decision("edit", by, parameters=read)


async def _body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise Invalid("body", f"the body is over {MAX_BODY} bytes")
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise Invalid("body", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Invalid("body", "the body must be a JSON object")
    return body


def _text(body: dict[str, Any], field: str, limit: int) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(field, f"{field} is required: a non-empty string")
    if len(value) > limit:
        raise Invalid(field, f"{field} must be at most {limit} characters")
    return value.strip()


def _id(body: dict[str, Any], field: str, pattern: re.Pattern[str], what: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not pattern.match(value):
        raise Invalid(field, f"{field} is required: {what}")
    return value


def _run_json(run: Run) -> dict[str, Any]:
    return {
        "run": run.thread_id,
        "short": run.thread_id[:8],
        "graph": run.graph,
        "status": run.status,
        "requester": run.requester,
        "request": run.request,
        "result": run.result,
        "created_at": run.created_at,
    }


def _decided_json(approval: Approval) -> dict[str, Any]:
    decision = approval.decision
    return {
        "request": approval.id,
        "status": approval.status,
        "by": approval.decided_by,
        "approvers": (decision.approvers if decision else None) or approval.signers or None,
        "reason": decision.reason if decision else None,
        "at": approval.decided_at,
    }


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


_ERROR = {"type": "object", "properties": {"error": {"type": "string"}}}
_INVALID = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "field": {"type": "string"}},
}
_RESPONSES = {
    "401": {"description": "Missing or wrong bearer token"},
    "422": {"description": "A malformed body; `field` names what to fix"},
}
OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "Approval bot API",
        "version": "1",
        "description": "Start runs, read where they stand, and decide what they wait for. "
        "Decisions follow the same rules as the Slack buttons and update the Slack card.",
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
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["request", "requester", "channel"],
                                "properties": {
                                    "request": {"type": "string", "maxLength": 4000},
                                    "requester": {"type": "string", "pattern": "^[UW][A-Z0-9]+$"},
                                    "channel": {"type": "string", "pattern": "^[CGD][A-Z0-9]+$"},
                                    "graph": {"type": "string"},
                                },
                            }
                        }
                    },
                },
                "responses": {"201": {"description": "The run, started"}, **_RESPONSES},
            }
        },
        "/api/runs/{run}": {
            "get": {
                "summary": "A run: its state, what it waits for, its decisions and timeline",
                "parameters": [{"name": "run", "in": "path", "required": True}],
                "responses": {
                    "200": {"description": "The run"},
                    "404": {"description": "No such run"},
                    **_RESPONSES,
                },
            }
        },
        "/api/runs/{run}/decision": {
            "post": {
                "summary": "Approve, reject or edit what a run waits for",
                "parameters": [{"name": "run", "in": "path", "required": True}],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["decision", "by"],
                                "properties": {
                                    "decision": {"enum": ["approve", "reject", "edit"]},
                                    "by": {
                                        "type": "string",
                                        "description": "The Slack user id of the person deciding",
                                    },
                                    "request": {
                                        "type": "string",
                                        "description": "Which request, when several wait",
                                    },
                                    "reason": {"type": "string"},
                                    "values": {
                                        "type": "object",
                                        "description": "An edit: the edited fields by name",
                                    },
                                },
                            }
                        }
                    },
                },
                "responses": {
                    "200": {"description": "Decided: this decision won"},
                    "202": {"description": "A vote counted; more signatures are needed"},
                    "409": {"description": "Refused or already decided; `error` says why"},
                    **_RESPONSES,
                },
            }
        },
    },
}
