"""The HTTP approval API, for tools outside Slack: start a run, read where it stands, decide.

On only when API tokens are configured (:mod:`bot.config.principals`); every call then needs
``Authorization: Bearer <token>``, and each token is one principal acting as one Slack user (or,
configured ``on_behalf``, for the Slack user it names, recorded as such). A decision goes through
the very path a button click does: the same who-may-decide rules, the same exactly-once claim,
and the same card update in Slack; a token is one signer, whoever it names. Reads show a run
only to whom :mod:`bot.core.access` shows it; any other run is a 404, as one that does not exist.
A run is started (``POST /api/runs``) only in a channel its requester is a member of, as
``/agent`` can only be typed where its user is: any other is refused 403 (channel).
Bodies are read into pydantic models (:mod:`bot.http.api_models`); the OpenAPI description
generated from them (:mod:`bot.http.api_spec`) is at ``GET /api/openapi.json``. What a call
answers is :mod:`bot.http.api_answers`; a call on a database that froze, or on a busy run, is
patient for a few seconds, then hears a 503 (:mod:`bot.http.api_patience`).
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.config.principals import Principal, Principals
from bot.core import outcomes
from bot.core.access import Access
from bot.core.engine import Engine
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, Run, RunRequest
from bot.http.api_answers import decision_answer, described, error, run_json
from bot.http.api_bodies import Forbidden, Invalid, acting, decision_of, parse, read_body
from bot.http.api_models import DecisionBody, ReadQuery, StartRun, start_run
from bot.http.api_patience import (
    API_THREADS,
    UNAVAILABLE,
    Silence,
    come_again,
    may_be_recorded,
    patiently,
    unavailable,
)
from bot.http.api_spec import openapi
from bot.slack.blocks.outcomes import already_decided
from bot.slack.client import MEMBER_SCOPES
from bot.slack.errors import NotGranted
from bot.store.audit_log import Audit
from bot.store.db import LockBusy, patience
from bot.store.repository import Store

logger = logging.getLogger(__name__)
_RUN = re.compile(r"[0-9a-f]{4,32}")
NO_SUCH_RUN = "No such run."
MAX_DECIDING = 4
DECIDE_WAIT = 10.0  # seconds a call waits for its turn, and for its run, before a 503
TURN_POLL = 0.01  # seconds between looks for a decision's turn
UNCHECKED = (
    "I couldn't check with Slack that <@{user}> is a member of channel {channel}; nothing "
    "started. Try again shortly."
)
UNGRANTED_ANSWER = (
    f"The Slack app was installed without the scopes this check needs ({MEMBER_SCOPES}): "
    "reinstall it from manifest.yml. Nothing started."
)
Handler = Callable[[Request, Principal], Awaitable[Response]]


@dataclass
class Api:
    principals: Principals
    store: Store
    engine: Engine
    audit: Audit
    access: Access
    tally: SignOffTally
    graphs: list[str]
    default_graph: str
    # Whether a Slack user is a member of a channel (bot.slack.client.Slack.member_of): False
    # too for a channel the bot cannot see; raises when Slack cannot say.
    member_of: Callable[[str, str], bool]
    approvals_channel: str | None = None  # APPROVALS_CHANNEL: where cards go, as for /agent
    # Each decision holds a database connection for its lock while it needs others: at most
    # this many at once, so a burst of calls cannot take every connection of the pool.
    decide_wait: float = DECIDE_WAIT  # then a 503: the call may simply come again
    deciding: threading.BoundedSemaphore = field(
        default_factory=lambda: threading.BoundedSemaphore(MAX_DECIDING)
    )
    threads: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(API_THREADS)
    )
    silence: Silence = field(default_factory=Silence)
    start_body: type[StartRun] = field(init=False)  # this deployment's graphs
    document: dict[str, Any] = field(init=False)  # GET /api/openapi.json

    def __post_init__(self) -> None:
        self.start_body = start_run(self.graphs, self.default_graph)
        self.document = openapi(self.start_body)

    def routes(self) -> list[Route]:
        return [
            Route("/api/openapi.json", self._spec, methods=["GET"]),
            Route("/api/runs", self._guarded(self._start), methods=["POST"]),
            Route("/api/runs/{run}", self._guarded(self._read), methods=["GET"]),
            Route("/api/runs/{run}/decision", self._guarded(self._decide), methods=["POST"]),
        ]

    # plumbing -----------------------------------------------------------------------------
    def _guarded(self, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            given = request.headers.get("authorization", "")
            scheme, _, token = given.partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return error(401, "Send Authorization: Bearer <your API token>.")
            principal = self.principals.holder(token.strip())
            if principal is None:
                return error(401, "That bearer token is not one of the configured API tokens.")
            try:
                return await handler(request, principal)
            except Invalid as problem:
                return JSONResponse(
                    {"error": str(problem), "field": problem.field}, status_code=problem.status
                )
            except UNAVAILABLE as problem:  # a database that froze, or a busy run
                return unavailable(problem)

        return guarded

    async def _in_thread(self, work: Callable[..., Any], *args: Any) -> Any:
        queued = time.monotonic()
        return await anyio.to_thread.run_sync(
            patiently, self.silence, queued, work, *args, limiter=self.threads
        )

    async def _spec(self, _: Request) -> Response:
        return JSONResponse(self.document)

    # POST /api/runs -----------------------------------------------------------------------
    async def _start(self, request: Request, principal: Principal) -> Response:
        body = parse(self.start_body, await read_body(request))
        requester = acting(principal, body.requester, "requester")
        cards = self.approvals_channel or body.channel
        # A token asking in another person's name: its holder asked too (bot.core.deciders).
        behalf = (principal.name, principal.user) if requester != principal.user else (None, None)
        asked = RunRequest(body.graph, body.request, requester, body.channel, cards, *behalf)
        started = await self._in_thread(self._started, asked)
        if isinstance(started, Response):
            return started
        return JSONResponse(run_json(started), status_code=201)

    def _started(self, asked: RunRequest) -> Run | Response:
        """The run recorded, if its channel passes :meth:`_asked_from`. The check and the write
        share one wait for a thread: a second wait, queued once the check was done, would not
        know that the first one waited while the database left another call unanswered, and
        the write would go out to the silent server (see :mod:`bot.http.api_patience`). A call
        that waited through such a silence does not ask Slack either: it is told nothing
        started, at once."""
        bound = patience()
        if bound is not None:
            bound.ask()
        unchecked = self._asked_from(asked.channel, asked.requester)
        if unchecked is not None:
            return unchecked
        return self.engine.start(asked)

    def _asked_from(self, channel: str, requester: str) -> Response | None:
        """Refuse a channel ``requester`` is not in (or one the bot cannot see: the same words,
        so the answer says nothing of a private channel); a 503 when Slack cannot say."""
        try:
            member = self.member_of(channel, requester)
        except NotGranted:
            logger.error(
                "POST /api/runs: the Slack app lacks the scopes %s; reinstall it from manifest.yml",
                MEMBER_SCOPES,
            )
            return JSONResponse({"error": UNGRANTED_ANSWER, "retry": False}, status_code=503)
        except Exception:
            logger.exception("could not check that %s is a member of %s", requester, channel)
            return come_again(UNCHECKED.format(user=requester, channel=channel))
        if not member:
            raise Forbidden(
                "channel",
                f"<@{requester}> is not a member of channel {channel}: a run is started only "
                "in a channel its requester is in, as /agent is typed there",
            )
        return None

    # GET /api/runs/{run} ------------------------------------------------------------------
    async def _read(self, request: Request, principal: Principal) -> Response:
        query = parse(ReadQuery, dict(request.query_params))
        viewer = acting(principal, query.as_, "as")
        found = await self._in_thread(self._find, request.path_params["run"], viewer)
        if isinstance(found, Response):
            return found
        return JSONResponse(await self._in_thread(self._describe, found))

    def _find(self, text: str, viewer: str) -> Run | Response:
        """The run, if ``viewer`` may see it; a run they may not see is "No such run.", word
        for word what a run that does not exist gets."""
        if not _RUN.fullmatch(text):
            return error(404, NO_SUCH_RUN)
        found = self.access.find(text, viewer)
        if found.ambiguous:
            return error(409, "Ambiguous: give more of the run id.")
        return found.run if found.run is not None else error(404, NO_SUCH_RUN)

    def _describe(self, run: Run) -> dict[str, Any]:
        approvals = self.store.run_approvals(run.thread_id)
        return described(run, approvals, self.audit.for_run(run.thread_id), self.tally)

    # POST /api/runs/{run}/decision --------------------------------------------------------
    async def _decide(self, request: Request, principal: Principal) -> Response:
        body = parse(DecisionBody, await read_body(request))
        by = acting(principal, body.by, "by")
        run_id = request.path_params["run"]
        # One of MAX_DECIDING at a time, its turn waited for on the event loop (then a 503):
        # calls waiting for it hold none of the API's threads, which reads and starts need.
        ends = time.monotonic() + self.decide_wait
        while not self.deciding.acquire(blocking=False):
            if time.monotonic() >= ends:
                raise LockBusy("the API's decisions", self.decide_wait)
            await anyio.sleep(TURN_POLL)
        try:
            decided = await self._in_thread(self._decided, run_id, by, principal, body)
        finally:
            self.deciding.release()
        if isinstance(decided, Response):
            return decided
        approval, outcome = decided
        outcome = await self._carried_out(outcome)
        return await self._in_thread(self._answer, approval, outcome)

    def _decided(
        self, run_id: str, by: str, principal: Principal, body: DecisionBody
    ) -> Response | tuple[Approval, outcomes.Outcome]:
        """Decide as a click would, the graph resumed in the background; what happened."""
        found = self._find(run_id, by)
        if isinstance(found, Response):
            return found
        approval = _which(self.store.run_approvals(found.thread_id), body.request)
        if isinstance(approval, Response):
            return approval
        decision = decision_of(self._as_shown(approval, body), body, by, principal)
        # Who may vote, and that a token and its user are one signer whoever it names, is the
        # engine's to check, under its lock on the run's sign-off, as for a click in Slack.
        # One call of a token on a run at a time: another one waits ``decide_wait`` for it,
        # then hears 503 (come again) rather than queueing behind a busy run.
        key = f"api:{principal.name}:{approval.thread_id}"
        with self.store.db.key_lock(key, self.decide_wait), may_be_recorded():
            outcome = self.engine.decide(approval.id, decision, background=True)
        return approval, outcome

    async def _carried_out(self, outcome: outcomes.Outcome) -> outcomes.Outcome:
        """A decision that settled the request, once the graph took it (or refused it: then
        the caller hears so, not "decided"), waited for at most ``decide_wait``; a graph still
        busy with it by then is left to go on in the background (its claim stands)."""
        applying = outcome.applying if isinstance(outcome, outcomes.Applied) else None
        if applying is None:
            return outcome
        # On the event loop, holding no thread; not cancelled at the wait's end, as
        # asyncio.wait_for would (a queued one would never be carried out).
        taken = asyncio.wrap_future(applying)
        done, _ = await asyncio.wait({taken}, timeout=self.decide_wait)
        if not done:
            taken.add_done_callback(_heard)  # its failure is the sweep's to retry, not logged
            return outcome
        try:
            reopened = applying.result()
        except Exception:  # still going, or failed: retried by the sweep, as a click's is
            return outcome
        return outcomes.AgentRefused(reopened) if reopened is not None else outcome

    def _as_shown(self, approval: Approval, body: DecisionBody) -> Approval:
        """The request as its card shows it: an edit made on it starts from the edit that
        stands (the fields it leaves out keep that version's values, as in Slack's Edit form),
        not from what the agent first proposed."""
        if body.decision != "edit" or not approval.pending or approval.review is None:
            return approval
        standing = self.tally.standing_edit(approval)
        edited = approval.edited_values(standing) if standing is not None else None
        if not edited:
            return approval
        return replace(approval, review=approval.review.with_values(edited))

    def _answer(self, approval: Approval, outcome: outcomes.Outcome) -> Response:
        with may_be_recorded():
            latest = self.store.get_approval(approval.id) or approval
        return decision_answer(approval, latest, outcome)


def _heard(taken: asyncio.Future[Any]) -> None:
    if not taken.cancelled():
        taken.exception()


def _which(approvals: list[Approval], wanted: Any) -> Approval | Response:
    """The request to decide: the one named, else the one the run waits on."""
    if wanted is not None:
        match = [a for a in approvals if a.id == wanted]
        if not match:
            return error(409, f"Run has no request {wanted!s:.40}.")
        return match[0]  # decided already: the engine says by whom
    pending = [a for a in approvals if a.pending]
    if not pending and approvals:
        return error(409, already_decided(approvals[-1]))
    if not pending:
        return error(409, "This run is not waiting for a decision yet.")
    if len(pending) > 1:
        raise Invalid("request", "this run waits on several requests: name one in `request`")
    return pending[0]
