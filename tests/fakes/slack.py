"""FakeSlack: Slack Web API + Socket Mode on 127.0.0.1, for tests that run the real bot.

    with FakeSlack() as slack:
        env = {"SLACK_API_URL": slack.api_url, "SLACK_BOT_TOKEN": slack.bot_token, ...}
        ...start the bot...
        slack.wait_socket_connected()
        ack = slack.send_envelope("slash_commands", {...})
        [call] = slack.wait_for("chat.postMessage")

Faults: ``fail_next`` (the next calls of a method, or of a method to one channel),
``fail_randomly`` (a share of all calls, until ``stop_failing``), ``set_latency``, ``hold`` (the
calls of a method wait, recorded but neither done nor answered, until ``release``) and
``set_handler``. ``set_channel`` makes a channel one the bot cannot see or write in, as Slack
answers it (``channel_not_found``, ``not_in_channel``, ``is_archived``).

Method semantics live in ``slack_api.py``, Block Kit limits in ``blockkit.py`` and the WebSocket
server in ``slack_socket.py``; this module adds HTTP, auth, recording and fault injection.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import random
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Self
from urllib.parse import parse_qsl

from ._http import BackgroundHttpServer, HttpRequest, HttpResponse, Service
from .slack_api import APP_ID, Json, Params, SlackError, SlackWorkspace
from .slack_socket import SocketModeServer

_JSON_FIELDS = ("blocks", "attachments", "view", "metadata")
_APP_TOKEN_METHODS = frozenset({"apps.connections.open"})
_HOOKS = "/hooks/"
HOLD_AT_MOST = 60.0  # a held call is answered anyway after this long (a test forgot it)
RESPONSE_URL = "response_url"  # method name under which posts to response_url() are recorded
TIMEOUT = 0  # a "status" for fail_randomly(): hold the call, then carry it out (answer too late)
_FAULT_ERRORS = {429: "ratelimited", 500: "internal_error", 502: "bad_gateway", 503: "unavailable"}


@dataclass
class Call:
    """One Web API request. ``status``/``response`` are filled in once it has been answered."""

    method: str
    params: Params
    time: float  # time.monotonic() at arrival
    token: str | None = None
    status: int | None = None
    response: Json | None = None  # None while in flight and for non-JSON (5xx) answers
    fault: str | None = None  # what fault injection did to it: "429", "500", "timeout", ...

    @property
    def ok(self) -> bool:
        """Slack did it and said so (a ``timeout`` fault is done too, but answered too late)."""
        return bool(self.response and self.response.get("ok"))


@dataclass(frozen=True)
class _Fault:
    status: int
    error: str
    retry_after: int | None
    hang: float = 0.0  # TIMEOUT: seconds to hold the call before doing it
    channel: str | None = None  # only calls to this channel (fail_next(channel=...))
    acted: bool = False  # carried out before the error answer (fail_next(acted=True))


@dataclass
class _RandomFaults:
    rate: float
    statuses: tuple[int, ...]
    methods: frozenset[str] | None  # None: every Web API method (not response_url posts)
    retry_after: int | None
    hang: float
    rng: random.Random

    def draw(self, method: str) -> _Fault | None:
        if self.methods is None and method == RESPONSE_URL:
            return None
        if self.methods is not None and method not in self.methods:
            return None
        if self.rng.random() >= self.rate:
            return None
        status = self.rng.choice(self.statuses)
        if status == TIMEOUT:
            return _Fault(TIMEOUT, "timeout", None, self.hang)
        return _Fault(status, _FAULT_ERRORS.get(status, "fault"), self.retry_after)


def _parse_params(request: HttpRequest) -> Params:
    params: Params = dict(request.query)
    body = request.body.decode("utf-8", errors="replace").strip()
    if body:
        if "json" in (request.header("content-type") or ""):
            try:
                data = json.loads(body)
            except ValueError:
                raise SlackError("invalid_json") from None
            if not isinstance(data, dict):
                raise SlackError("invalid_json")
            params.update(data)
        else:
            params.update(parse_qsl(body, keep_blank_values=True))
    for key in _JSON_FIELDS:  # form posts carry these as JSON-encoded strings
        value = params.get(key)
        if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
            # Unparsable values stay strings; the method then answers invalid_blocks_format & co.
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params


class FakeSlack(Service):
    def __init__(
        self,
        *,
        bot_token: str = "xoxb-test-token",
        app_token: str = "xapp-test-token",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``tls``: the Web API served over HTTPS with this context, as Slack's is."""
        self.bot_token = bot_token
        self.app_token = app_token
        self.workspace = SlackWorkspace()
        self.usergroups = self.workspace.usergroups  # usergroup id -> user ids
        self.users = self.workspace.users  # user id -> fields overriding users.info defaults
        self.channels = self.workspace.channels  # channel id -> conversations.info overrides
        self._http = BackgroundHttpServer(self._serve, keep_alive=True, tls=tls)  # as Slack's
        self._scheme = "https" if tls is not None else "http"
        self._socket = SocketModeServer(app_id=APP_ID)
        self.workspace.register("apps.connections.open", lambda _: {"url": self._socket.new_url()})
        self._lock = threading.RLock()  # re-entrant: predicates may call calls()
        self._changed = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._faults: dict[str, deque[_Fault]] = {}
        self._random: _RandomFaults | None = None
        self._latency: dict[str, float] = {}
        self._held: set[str] = set()  # methods whose calls wait for release()
        self._handlers: dict[str, Callable[[Params], Json]] = {}
        self._trigger_ids = itertools.count(1)

    # ------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        self._http.start()
        self._socket.start()
        return self

    def stop(self) -> None:
        with self._changed:
            self._held.clear()
            self._changed.notify_all()
        self._socket.stop()
        self._http.stop()

    def drop_connections(self) -> None:
        """Close every kept-alive connection, as Slack's servers do with idle ones."""
        self._http.drop_connections()

    @property
    def connections(self) -> int:
        """Connections the Web API has accepted so far (kept alive, one serves many calls)."""
        return self._http.connections_accepted

    @property
    def api_url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._http.port}/api/"

    # ------------------------------------------------------------ recording

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def wait_for(
        self,
        method: str,
        predicate: Callable[[Call], bool] = lambda call: True,
        timeout: float = 10.0,
        count: int = 1,
    ) -> list[Call]:
        """Wait until ``count`` answered calls of ``method`` match; returns all matches.

        A predicate raising KeyError/IndexError/TypeError/AttributeError counts as no match,
        so ``lambda c: "x" in c.params["text"]`` simply skips calls without ``text``.
        """

        def matches() -> list[Call]:
            return [c for c in self._calls if c.method == method and _safe(predicate, c)]

        with self._changed:
            if self._changed.wait_for(lambda: len(matches()) >= count, timeout):
                return matches()
            found = len(matches())
            dump = "\n".join(f"  {_describe(c)}" for c in self._calls[-40:]) or "  (none)"
        raise AssertionError(
            f"expected {count} matching {method} call(s) within {timeout}s, got {found}. "
            f"Recorded calls (last 40):\n{dump}"
        )

    def reset(self) -> None:
        """Forget calls, messages, views, triggers, faults, latencies, custom handlers and
        channels set with :meth:`set_channel`."""
        with self._lock:
            self._calls.clear()
            self._faults.clear()
            self._random = None
            self._latency.clear()
            self._handlers.clear()
            self._held.clear()
            self._changed.notify_all()
        self.workspace.clear()
        with self.workspace.lock:
            self.workspace.access.clear()

    # ---------------------------------------------------------- workspace

    def messages(self, channel: str) -> list[Json]:
        """Current top-level messages in ``channel`` (thread replies excluded), oldest first."""
        with self.workspace.lock:
            stored = self.workspace.messages.get(channel, {}).values()
            return [dict(m) for m in stored if m.get("thread_ts", m["ts"]) == m["ts"]]

    def message(self, channel: str, ts: str) -> Json:
        with self.workspace.lock:
            stored = self.workspace.messages.get(channel, {})
            if ts not in stored:
                raise KeyError(f"no message {ts} in {channel}; have {sorted(stored)}")
            return dict(stored[ts])

    def replies(self, channel: str, thread_ts: str) -> list[Json]:
        """Replies in the thread under ``thread_ts`` (the parent itself excluded)."""
        with self.workspace.lock:
            stored = self.workspace.messages.get(channel, {}).values()
            return [dict(m) for m in stored if m.get("thread_ts") == thread_ts != m["ts"]]

    def ephemerals(self, channel: str) -> list[Json]:
        with self.workspace.lock:
            return list(self.workspace.ephemerals.get(channel, []))

    def views(self) -> list[Json]:
        with self.workspace.lock:
            return list(self.workspace.views.values())

    def view(self, view_id: str) -> Json:
        with self.workspace.lock:
            return dict(self.workspace.views[view_id])

    @staticmethod
    def dm_channel(user_id: str) -> str:
        """The IM channel id chat.postMessage answers with when posting to a user id."""
        return SlackWorkspace.dm_channel(user_id)

    def response_url(self, hook: str = "1") -> str:
        """A ``response_url`` for payloads; posts to it are recorded as ``"response_url"`` calls
        (params = the posted JSON plus ``hook``) and answered ``{"ok": true}``."""
        return f"{self._scheme}://127.0.0.1:{self._http.port}{_HOOKS}{hook}"

    def new_trigger_id(self) -> str:
        return f"{next(self._trigger_ids)}.1700000000.{time.monotonic_ns() % 10**12:x}"

    def expire_trigger(self, trigger_id: str) -> None:
        with self.workspace.lock:
            self.workspace.expired_triggers.add(trigger_id)

    # ------------------------------------------------------ fault injection

    def fail_next(
        self,
        method: str,
        *,
        status: int = 429,
        error: str = "ratelimited",
        retry_after: int | None = 1,
        times: int = 1,
        channel: str | None = None,
        acted: bool = False,
    ) -> None:
        """The next ``times`` calls of ``method`` (with ``channel``: of those to that channel)
        answer HTTP ``status`` with ``error``.

        4xx/200 answers carry ``{"ok": false, "error": error}``; 5xx answers a plain-text body
        like Slack's gateway does. ``Retry-After`` is sent when ``retry_after`` is not None.
        ``acted``: the call is carried out all the same before the error answer, as Slack warns
        can happen with ``internal_error`` and ``fatal_error`` ("some aspect of the operation
        succeeded"); such a call counts as not :attr:`Call.ok` but its message is there.
        """
        with self._lock:
            queue = self._faults.setdefault(method, deque())
            fault = _Fault(status, error, retry_after, channel=channel, acted=acted)
            queue.extend([fault] * times)

    def set_channel(
        self, channel: str, *, exists: bool = True, member: bool = True, archived: bool = False
    ) -> None:
        """How the bot stands in ``channel``: posts (and updates, ephemerals) there answer
        ``channel_not_found`` when it does not exist for the bot, else ``is_archived``, else
        ``not_in_channel``; ``conversations.info`` says the same. Channels never set exist and
        have the bot as a member."""
        self.workspace.set_channel(channel, exists=exists, member=member, archived=archived)

    def set_members(self, channel: str, users: list[str]) -> None:
        """Who is in ``channel``, as conversations.members lists them (page by page); a channel
        never set has the bot alone."""
        with self.workspace.lock:
            self.workspace.members[channel] = list(users)

    def fail_randomly(
        self,
        rate: float = 0.3,
        *,
        statuses: tuple[int, ...] = (429, 500),
        methods: Iterable[str] | None = None,
        seed: int | None = None,
        retry_after: int | None = 1,
        hang: float = 20.0,
    ) -> None:
        """Until :meth:`stop_failing`, each call of ``methods`` (default: every Web API method,
        not ``response_url`` posts) fails with probability ``rate``, answering a status drawn
        from ``statuses`` (as :meth:`fail_next` does; queued ``fail_next`` faults come first).

        A failed call did nothing in the workspace; it is recorded with ``status`` and ``fault``
        set, so count what Slack really did with :attr:`Call.ok`. The status :data:`TIMEOUT`
        holds the call ``hang`` seconds (longer than the client waits), then carries it out: the
        client never hears that it was done. ``seed`` makes the draws repeatable (for one
        sequence of calls; threads interleave them differently from run to run).
        """
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        if not statuses:
            raise ValueError("statuses must name at least one status")
        chosen = None if methods is None else frozenset(methods)
        faults = _RandomFaults(
            rate, tuple(statuses), chosen, retry_after, hang, random.Random(seed)
        )
        with self._lock:
            self._random = faults

    def stop_failing(self) -> None:
        """End :meth:`fail_randomly` and drop the faults :meth:`fail_next` queued."""
        with self._lock:
            self._random = None
            self._faults.clear()

    def faulted(self, method: str | None = None) -> list[Call]:
        """The calls fault injection failed (or held, for ``TIMEOUT``)."""
        return [c for c in self.calls(method) if c.fault is not None]

    def set_latency(self, method: str, seconds: float) -> None:
        with self._lock:
            self._latency[method] = seconds

    def hold(self, method: str) -> None:
        """Keep each call of ``method`` from now on waiting, recorded but neither done nor
        answered, until :meth:`release` (Slack is slow to answer, for as long as a test needs)."""
        with self._lock:
            self._held.add(method)

    def release(self, method: str) -> None:
        """Do and answer the held calls of ``method``, and hold no more of them."""
        with self._changed:
            self._held.discard(method)
            self._changed.notify_all()

    def set_handler(self, method: str, handler: Callable[[Params], Json]) -> None:
        """Answer ``method`` with ``handler(params)`` (``{"ok": True}`` is added unless given)."""
        with self._lock:
            self._handlers[method] = handler

    # ---------------------------------------------------------- socket mode

    def wait_socket_connected(self, timeout: float = 10.0) -> None:
        self._socket.wait_connected(timeout)

    @property
    def socket_connected(self) -> bool:
        return self._socket.connected

    @property
    def socket_connection_count(self) -> int:
        """How many Socket Mode connections were opened so far (reconnects included)."""
        return self._socket.connection_count

    def send_envelope(
        self, payload_type: str, payload: dict[str, Any], timeout: float = 5.0
    ) -> dict[str, Any]:
        """Push an envelope to the connected client; returns its ack (``envelope_id``, ...)."""
        return self._socket.send_envelope(payload_type, payload, timeout)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        self._socket.send_disconnect(reason)

    # ---------------------------------------------------------------- HTTP

    def _serve(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/api/"):
            method = request.path.removeprefix("/api/")
        elif request.path.startswith(_HOOKS) and request.method == "POST":
            method = RESPONSE_URL
        else:
            return HttpResponse.text("Not Found", 404)
        parse_error: SlackError | None = None
        try:
            params = _parse_params(request)
        except SlackError as exc:
            params, parse_error = {}, exc
        if method == RESPONSE_URL:
            params["hook"] = request.path.removeprefix(_HOOKS)
        form_token = params.pop("token", None)
        token = request.bearer_token() or (str(form_token) if form_token else None)
        call = Call(method, params, time.monotonic(), token)
        with self._changed:
            self._calls.append(call)
            self._changed.notify_all()
            delay = self._latency.get(call.method, 0.0)
            self._changed.wait_for(lambda: call.method not in self._held, HOLD_AT_MOST)
        if delay:
            time.sleep(delay)
        response = self._answer(call, parse_error)
        with self._changed:
            call.status = response.status
            if isinstance(response.body, bytes) and response.headers.get(
                "Content-Type", ""
            ).startswith("application/json"):
                call.response = json.loads(response.body)
            self._changed.notify_all()
        return response

    def _answer(self, call: Call, parse_error: SlackError | None) -> HttpResponse:
        with self._lock:
            fault = _take_fault(self._faults.get(call.method), call.params.get("channel"))
            if fault is None and self._random is not None:
                fault = self._random.draw(call.method)
            if fault is not None:
                call.fault = "timeout" if fault.status == TIMEOUT else str(fault.status)
            handler = self._handlers.get(call.method)
        if fault is not None and fault.status == TIMEOUT:
            time.sleep(fault.hang)  # the client has given up by now; Slack does it anyway
        elif fault is not None and fault.acted:
            self._carry_out(call, parse_error, handler)
            return _fault_response(fault)
        elif fault is not None:
            return _fault_response(fault)
        return self._carry_out(call, parse_error, handler)

    def _carry_out(
        self,
        call: Call,
        parse_error: SlackError | None,
        handler: Callable[[Params], Json] | None,
    ) -> HttpResponse:
        if call.method == RESPONSE_URL:
            return HttpResponse.json({"ok": True})
        if handler is None and not self.workspace.knows(call.method):
            body = {"ok": False, "error": "unknown_method", "req_method": call.method}
            return HttpResponse.json(body, status=404)
        try:
            self._check_auth(call)
            if parse_error is not None:
                raise parse_error
            if handler is not None:
                return HttpResponse.json({"ok": True, **handler(call.params)})
            return HttpResponse.json(self.workspace.call(call.method, call.params))
        except SlackError as exc:
            return HttpResponse.json(exc.body())

    def _check_auth(self, call: Call) -> None:
        expected = self.app_token if call.method in _APP_TOKEN_METHODS else self.bot_token
        if call.token == expected:
            return
        if not call.token:
            raise SlackError("not_authed")
        if call.token in (self.bot_token, self.app_token):
            raise SlackError("not_allowed_token_type")
        raise SlackError("invalid_auth")


def _take_fault(queue: deque[_Fault] | None, channel: Any) -> _Fault | None:
    """The first queued fault that applies to a call to ``channel``, taken off the queue."""
    if not queue:
        return None
    for fault in queue:
        if fault.channel is None or fault.channel == channel:
            queue.remove(fault)  # equal faults are alike: which copy goes does not matter
            return fault
    return None


def _fault_response(fault: _Fault) -> HttpResponse:
    headers = {} if fault.retry_after is None else {"Retry-After": str(fault.retry_after)}
    if fault.status >= 500:
        return HttpResponse.text(f"{fault.status} {fault.error}\n", fault.status, headers)
    return HttpResponse.json({"ok": False, "error": fault.error}, fault.status, headers)


def _safe(predicate: Callable[[Call], bool], call: Call) -> bool:
    if call.status is None:
        return False
    try:
        return bool(predicate(call))
    except (KeyError, IndexError, TypeError, AttributeError):
        return False


def _describe(call: Call) -> str:
    keys = ("channel", "ts", "thread_ts", "text", "user", "usergroup", "trigger_id", "view_id")
    shown = {k: call.params[k] for k in keys if k in call.params}
    outcome = "in flight" if call.status is None else f"HTTP {call.status}"
    if call.fault is not None:
        outcome += f" (injected {call.fault})"
    if call.response is not None:
        outcome += " ok" if call.ok else f" error={call.response.get('error')}"
    text = json.dumps(shown, ensure_ascii=False)
    return f"{call.method} {text[:300]} -> {outcome}"
