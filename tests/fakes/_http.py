"""Minimal threaded HTTP plumbing shared by the fake services.

A fake is written as a plain function ``HttpRequest -> HttpResponse``; ``BackgroundHttpServer``
serves it on an ephemeral 127.0.0.1 port from a daemon thread, one thread per connection.
"""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit


@dataclass(frozen=True)
class HttpRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def bearer_token(self) -> str | None:
        value = self.header("authorization") or ""
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()


@dataclass
class HttpResponse:
    status: int = 200
    body: bytes | Iterable[bytes] = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Called once the response is written: True when all of it went out, False when the client
    # had gone away (so a fake can tell a test its answer is delivered or dropped).
    on_done: Callable[[bool], None] | None = field(default=None, compare=False)

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: dict[str, str] | None = None
    ) -> HttpResponse:
        all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
        return cls(status, json.dumps(data).encode(), all_headers)

    @classmethod
    def text(cls, text: str, status: int, headers: dict[str, str] | None = None) -> HttpResponse:
        all_headers = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
        return cls(status, text.encode(), all_headers)


App = Callable[[HttpRequest], HttpResponse]
KEEP_ALIVE_FOR = 5.0  # seconds an idle kept-alive connection stays open (servers close them)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    # HTTP/1.0: one request per connection, so clients never reuse a connection we closed.
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        url = urlsplit(self.path)
        request = HttpRequest(
            method=self.command,
            path=url.path,
            query=dict(parse_qsl(url.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in self.headers.items()},
            body=self.rfile.read(length) if length else b"",
        )
        try:
            response = self.server.app(request)
        except Exception as exc:  # a bug in a fake must not look like a hung server
            response = HttpResponse.text(f"fake server error: {exc!r}", 500)
        # The client may have given up already (e.g. its timeout fired during an injected delay).
        delivered = False
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self._write(response)
            self.wfile.flush()
            delivered = True
        if response.on_done is not None:
            response.on_done(delivered)

    def _write(self, response: HttpResponse) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        if isinstance(response.body, bytes):
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            self.wfile.write(response.body)
            return
        if self.protocol_version != "HTTP/1.0":  # no length to tell where it ends: close
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        for chunk in response.body:
            self.wfile.write(chunk)
            self.wfile.flush()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _KeptAliveHandler(_Handler):
    """HTTP/1.1: a connection serves request after request (as Slack's does) until the client
    closes it, asks to, or leaves it idle ``timeout`` seconds."""

    protocol_version = "HTTP/1.1"
    timeout = KEEP_ALIVE_FOR
    # The head and the body go out in two writes: without TCP_NODELAY, the body would wait for
    # the client's delayed ACK of the head (up to 40 ms) on a connection that stays open.
    disable_nagle_algorithm = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256

    def __init__(self, app: App, keep_alive: bool, tls: ssl.SSLContext | None) -> None:
        super().__init__(("127.0.0.1", 0), _KeptAliveHandler if keep_alive else _Handler)
        self.app = app
        self.tls = tls
        self.accepted = 0  # connections
        self._wrapped: dict[int, ssl.SSLSocket] = {}  # per connection thread, with tls
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self.accepted += 1
            self._open.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is not None:  # the handshake in the connection's own thread
            raw = request
            try:
                request = self.tls.wrap_socket(raw, server_side=True)
            except (OSError, ssl.SSLError):
                return
            with self._open_lock:
                self._open.discard(raw)
                self._open.add(request)
            self._wrapped[threading.get_ident()] = request
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        request = self._wrapped.pop(threading.get_ident(), request)
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        """Close every connection still open (a stopped server serves none of them)."""
        with self._open_lock:
            still = list(self._open)
        for sock in still:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class BackgroundHttpServer:
    """Serves ``app`` on 127.0.0.1:<ephemeral port> from a daemon thread; ``keep_alive``: over
    HTTP/1.1, a connection kept for the client's next request; ``tls``: over TLS (HTTPS)."""

    def __init__(
        self, app: App, keep_alive: bool = False, tls: ssl.SSLContext | None = None
    ) -> None:
        self._app = app
        self._keep_alive = keep_alive
        self._tls = tls
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def drop_connections(self) -> None:
        if self._server is not None:
            self._server.drop_connections()

    @property
    def connections_accepted(self) -> int:
        return self._server.accepted if self._server is not None else 0

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server is not running; call start() first")
        return self._server.server_address[1]

    def start(self) -> None:
        if self._server is not None:
            return
        self._server = _Server(self._app, self._keep_alive, self._tls)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        self._server.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None


class Service:
    """start()/stop() plus context-manager support for the fakes."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
