"""Socket Mode side of FakeSlack: a plain ws:// server speaking Slack's envelope protocol.

``apps.connections.open`` hands out ``ws://127.0.0.1:PORT/link/?ticket=...``; a client that
connects with a valid ticket gets Slack's ``hello`` message, then envelopes pushed by tests via
``send_envelope`` and answered by the client's ``{"envelope_id": ...}`` acks.
"""

from __future__ import annotations

import json
import threading
import uuid
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

ENVELOPE_TYPES = ("slash_commands", "interactive", "events_api")


class SocketModeServer:
    def __init__(self, *, app_id: str, ping_interval: float = 1.0) -> None:
        self._app_id = app_id
        # Frequent server pings keep the builtin client's blocking recv() short, so closing it
        # (SocketModeHandler.close()) takes ~ping_interval instead of its 3 s socket timeout.
        self._ping_interval = ping_interval
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._tickets: set[str] = set()
        self._connections: list[ServerConnection] = []
        self._pending: dict[str, Future[dict[str, Any]]] = {}
        self.connection_count = 0
        self.received: list[dict[str, Any]] = []

    # ------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check_ticket,
            compression=None,
            ping_interval=self._ping_interval,
            ping_timeout=None,
            close_timeout=1,
        )
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def new_url(self) -> str:
        if self._server is None:
            raise RuntimeError("socket mode server is not running")
        ticket = uuid.uuid4().hex
        with self._lock:
            self._tickets.add(ticket)
        port = self._server.socket.getsockname()[1]
        return f"ws://127.0.0.1:{port}/link/?ticket={ticket}&app_id={self._app_id}"

    # ----------------------------------------------------------- test API

    @property
    def connected(self) -> bool:
        with self._lock:
            return bool(self._connections)

    def wait_connected(self, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: bool(self._connections), timeout):
                raise AssertionError(f"no Socket Mode client connected within {timeout}s")

    def send_envelope(
        self, payload_type: str, payload: dict[str, Any], timeout: float
    ) -> dict[str, Any]:
        if payload_type not in ENVELOPE_TYPES:
            raise ValueError(f"payload_type must be one of {ENVELOPE_TYPES}")
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": payload_type,
            "payload": payload,
            "accepts_response_payload": payload_type != "events_api",
        }
        if payload_type == "events_api":
            envelope.update(retry_attempt=0, retry_reason="")
        ack: Future[dict[str, Any]] = Future()
        with self._lock:
            self._pending[envelope_id] = ack
        try:
            self._current(timeout).send(json.dumps(envelope))
            return ack.result(timeout=timeout)
        except FutureTimeout:
            raise AssertionError(
                f"no ack for {payload_type} envelope {envelope_id} within {timeout}s "
                "(bolt sends none when no listener matched or ack() was not called)"
            ) from None
        finally:
            with self._lock:
                self._pending.pop(envelope_id, None)

    def send_disconnect(self, reason: str = "refresh_requested") -> None:
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "fake-applink"}}
        self._current(timeout=1.0).send(json.dumps(message))

    # ------------------------------------------------------------ internals

    def _current(self, timeout: float) -> ServerConnection:
        self.wait_connected(timeout)
        with self._lock:
            return self._connections[-1]

    def _check_ticket(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        ticket = (parse_qs(url.query).get("ticket") or [""])[0]
        with self._lock:
            if url.path.rstrip("/") == "/link" and ticket in self._tickets:
                self._tickets.discard(ticket)
                return None
        return connection.respond(HTTPStatus.UNAUTHORIZED, "invalid or used ticket\n")

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            count = len(self._connections) + 1
        hello = {
            "type": "hello",
            "num_connections": count,
            "debug_info": {"host": "fake-applink", "approximate_connection_time": 18060},
            "connection_info": {"app_id": self._app_id},
        }
        try:
            connection.send(json.dumps(hello))
            with self._changed:  # only now may tests push envelopes to this connection
                self._connections.append(connection)
                self.connection_count += 1
                self._changed.notify_all()
            for raw in connection:
                self._on_message(raw)
        except ConnectionClosed:
            pass
        finally:
            with self._changed:
                if connection in self._connections:
                    self._connections.remove(connection)
                self._changed.notify_all()

    def _on_message(self, raw: str | bytes) -> None:
        try:
            message = json.loads(raw)
        except ValueError:
            return
        if not isinstance(message, dict):
            return
        with self._lock:
            self.received.append(message)
            ack = self._pending.get(str(message.get("envelope_id")))
        if ack is not None and not ack.done():
            ack.set_result(message)
