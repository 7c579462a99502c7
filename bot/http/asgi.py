"""The HTTP transport: Starlette on uvicorn, Slack requests at ``POST /slack/events``.

Bolt's dispatch is synchronous, so it runs in Starlette's thread pool and the event loop keeps
accepting connections during a burst. A body over ``MAX_BODY`` is refused (413) before it is
read in full, let alone checked; then an unsigned request is a 401, and only then are requests
Bolt cannot even parse a 400.

The signature is checked over the raw bytes here rather than with slack_sdk's verifier, which
decodes the body as UTF-8 and parses the timestamp without guarding either: a non-UTF-8 body or a
non-numeric timestamp would otherwise raise, answer 500 and drop the connection.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext, suppress
from typing import Any
from urllib.parse import parse_qsl

from slack_bolt import Ack, App, BoltRequest, BoltResponse
from slack_bolt.adapter.starlette.handler import to_starlette_response
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.http.bodies import TooLarge, read_capped
from bot.http.health import Health
from bot.runtime.metrics import CONTENT_TYPE, Metrics
from bot.runtime.worker import AckFirst, ListenerPool

SLACK_PATH = "/slack/events"  # where Slack sends everything; manifest.yml names it

logger = logging.getLogger(__name__)
REFUSED_EVERY = 60.0  # seconds between two log lines about requests refused for their signature
MAX_BODY = 1_000_000  # Slack's payloads are well under it; the largest are modal submissions
MAX_AGE = 5 * 60  # Slack: reject requests whose timestamp is more than five minutes off
ACK_TIMEOUT = 3.0  # Bolt's: a listener that has not acked by then is not waited for


def is_signed(secret: str, body: bytes, headers: Mapping[str, str], now: float) -> bool:
    """Slack's ``v0`` signature over the raw body; False (never an exception) for anything odd."""
    timestamp = headers.get("x-slack-request-timestamp") or ""
    signature = headers.get("x-slack-signature") or ""
    # Ten digits today; a long one would overflow the comparison (or int()) rather than fail it.
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        return False
    if abs(now - int(timestamp)) > MAX_AGE:
        return False
    base = b"v0:" + timestamp.encode() + b":" + body
    expected = "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))


def to_bolt_request(text: str, request: Request) -> BoltRequest:
    # Starlette's multi-maps read like the dicts Bolt's annotations name (Bolt only looks up).
    bolt_request = BoltRequest(
        body=text,
        query=request.query_params,  # type: ignore[arg-type]
        headers=request.headers,  # type: ignore[arg-type]
    )
    if not bolt_request.body and "payload" in text:
        # Bolt (1.30) reads any form body containing the word "payload" as an interactive
        # payload= form, so `/agent ... payload ...` would parse as {} and be dropped unanswered.
        form = dict(parse_qsl(text, keep_blank_values=True))
        if "payload" not in form:
            parsed = BoltRequest(body=form, mode="socket_mode")  # a dict body is taken as is
            bolt_request.body, bolt_request.context = parsed.body, parsed.context
    return bolt_request


class _SaysAcked(Ack):
    """Bolt's ``ack``, which also hands on the answer it makes (None if it could not make one)."""

    def __init__(self, acked: Callable[[BoltResponse | None], None]) -> None:
        self._given: BoltResponse | None = None
        super().__init__()
        self._acked = acked

    @property
    def response(self) -> BoltResponse | None:
        return self._given

    @response.setter
    def response(self, response: BoltResponse | None) -> None:
        # A listener that raises after its ack has Bolt set this back to None (thread_runner):
        # the answer has gone to Slack all the same, and without it Bolt would poll for another
        # until its 3 s are up, holding the thread, then try the next listener that matches.
        if response is not None or self._given is None:
            self._given = response

    def __call__(self, *args: Any, **kwargs: Any) -> BoltResponse:
        try:
            return super().__call__(*args, **kwargs)
        finally:
            self._acked(self.response)


def dispatch(app: App, request: BoltRequest, arrived: float | None = None) -> BoltResponse:
    """``app.dispatch``, answered as soon as the listener acks when Bolt's listeners run in a
    :class:`ListenerPool` (else after Bolt's next 10 ms look); ``arrived``: when the request
    came (monotonic), its time before the ack counted from then."""
    pool = app.listener_runner.listener_executor
    if not isinstance(pool, ListenerPool):
        return app.dispatch(request)
    acked = threading.Event()
    request.context["ack"] = _SaysAcked(lambda _: acked.set())
    with pool.answer_when(acked, arrived):
        return app.dispatch(request)


async def answered(app: App, request: BoltRequest, arrived: float) -> BoltResponse:
    """``app.dispatch``, answered at the listener's ack, from the event loop: with Bolt's
    listeners in a :class:`ListenerPool`, the dispatch and its listener run on one thread of
    it (:meth:`ListenerPool.dispatch`), which hands the ack's answer straight back to the loop
    (else Bolt's own dispatch on Starlette's thread pool). A listener that has not acked
    within Bolt's 3 s is answered as Bolt answers it: 404, "unhandled request"."""
    pool = app.listener_runner.listener_executor
    if not isinstance(pool, ListenerPool):
        return await run_in_threadpool(dispatch, app, request, arrived)
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[BoltResponse] = loop.create_future()
    answer.add_done_callback(_heard)  # given after the 3 s, an error would go unread
    given: list[bool] = []  # the listener acks on this same thread, before the dispatch ends

    def give(outcome: BoltResponse | BaseException | None) -> None:
        if outcome is not None and not given:
            given.append(True)  # one wake-up of the loop a request (a listener's ack, mostly)
            with suppress(RuntimeError):  # the loop closed: nobody waits for the answer
                loop.call_soon_threadsafe(_settle, answer, outcome)

    def job() -> None:
        try:
            give(app.dispatch(request))
        except Exception as exc:
            give(exc)

    request.context["ack"] = _SaysAcked(give)
    pool.dispatch(job, arrived)
    try:
        return await asyncio.wait_for(asyncio.shield(answer), ACK_TIMEOUT)
    except TimeoutError:
        logger.warning("a listener did not ack within %s s", ACK_TIMEOUT)
        return BoltResponse(status=404, body={"error": "unhandled request"})


def _heard(answer: asyncio.Future[BoltResponse]) -> None:
    if not answer.cancelled():
        answer.exception()


def _settle(answer: asyncio.Future[BoltResponse], outcome: BoltResponse | BaseException) -> None:
    """The first outcome given is the answer: the ack's, else the dispatch's own."""
    if answer.done():
        return
    if isinstance(outcome, BaseException):
        answer.set_exception(outcome)
    else:
        answer.set_result(outcome)


def operations_routes(health: Health, metrics: Metrics, extra: Sequence[Route] = ()) -> list[Route]:
    """``GET /healthz``, ``GET /metrics`` and ``extra`` (the approval API, LangGraph Server's
    webhook): served in both modes (in Socket Mode on PORT too).

    Both read what the background refresher left (bot/runtime/refresher.py), with no I/O, so they
    run
    on the event loop itself: a flood of probes neither queries the database nor takes a thread
    from the pool Bolt's dispatch runs in."""

    async def healthz(_: Request) -> Response:
        ok, report = health.report()
        return JSONResponse(report, status_code=200 if ok else 503)

    async def scrape(_: Request) -> Response:
        return Response(metrics.exposition(), media_type=CONTENT_TYPE)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", scrape, methods=["GET"]),
        *extra,
    ]


def create_operations_asgi(health: Health, metrics: Metrics, extra: Sequence[Route]) -> Starlette:
    return Starlette(routes=operations_routes(health, metrics, extra))


def create_asgi(
    app: App,
    signing_secret: str,
    health: Health,
    metrics: Metrics,
    extra: Sequence[Route] = (),
    acks: AckFirst | None = None,
) -> Starlette:
    answering = acks.answering if acks else nullcontext
    refused_said = [-REFUSED_EVERY]  # when the log last said why a request got a 401

    def say_refused() -> None:
        # A wrong SLACK_SIGNING_SECRET refuses every request; without a word in the log the
        # operator saw only Slack's "dispatch_failed". Once a minute at most: a flood of
        # unsigned requests must not flood the log too.
        now = time.monotonic()
        if now - refused_said[0] >= REFUSED_EVERY:
            refused_said[0] = now
            logger.warning(
                "refused a request to %s with a 401: its signature does not match "
                "SLACK_SIGNING_SECRET, or it is over 5 minutes old. If every Slack request is "
                "refused, copy the Signing Secret again (Basic Information) and restart",
                SLACK_PATH,
            )

    async def events(request: Request) -> Response:
        started = time.perf_counter()
        arrived = time.monotonic()
        try:
            body = await read_capped(request, MAX_BODY)
        except TooLarge:
            return JSONResponse({"error": "request too large"}, status_code=413)
        if not is_signed(signing_secret, body, request.headers, time.time()):
            # Not Slack's: answered without counting as "being answered", so a flood of these
            # never holds background work back (bot/runtime/worker.py), nor skews the ack metric.
            say_refused()
            return JSONResponse({"error": "invalid signature"}, status_code=401)
        with answering():
            response = await handle(request, body, arrived)
        metrics.ack.labels(kind=_kind(body)).observe(time.perf_counter() - started)
        return response

    async def handle(request: Request, body: bytes, arrived: float) -> Response:
        try:
            bolt_request = to_bolt_request(body.decode("utf-8"), request)
        except Exception:
            logger.warning("unparseable Slack request", exc_info=True)
            return JSONResponse({"error": "malformed payload"}, status_code=400)
        try:
            # Its time counted from its arrival: it may wait here for one of the pool's threads.
            bolt_response = await answered(app, bolt_request, arrived)
        except Exception:
            logger.exception("dispatch failed")
            return JSONResponse({"error": "could not handle this request"}, status_code=400)
        if bolt_response.status >= 500:
            # Mostly a payload of the wrong shape (e.g. ``"actions": "x"``) that broke Bolt's
            # listener matching (a listener failing before its ack is logged by @app.error too).
            logger.error("Bolt answered %s: %s", bolt_response.status, bolt_response.body)
            return JSONResponse({"error": "could not handle this request"}, status_code=400)
        return to_starlette_response(bolt_response)

    return Starlette(
        routes=[
            Route(SLACK_PATH, events, methods=["POST"]),
            *operations_routes(health, metrics, extra),
        ]
    )


def _kind(body: bytes) -> str:
    """What kind of Slack request it was, for the ack metric: a command, an interaction (a
    click or a modal), or an event."""
    if body.startswith(b"{"):
        return "event"
    return "interaction" if body.startswith(b"payload=") else "command"
