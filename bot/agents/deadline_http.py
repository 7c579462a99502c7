"""An httpx client whose timeout bounds each request as a whole, not each socket operation.

httpx's timeouts (``OPENAI_TIMEOUT`` as ChatOpenAI passes it, the LangGraph Server client's)
bound each connect, write and read: a server or proxy sending a byte every few seconds passes
every such bound and holds the call, its worker and the run's lease for as long as it likes.

Here each request has one :class:`graphs.outbound.Deadline` from the moment it is sent until its
answer has been read (or closed), and every socket operation made for it is given only the time
left: the name lookup (bounded as :func:`graphs.outbound.within` bounds it: getaddrinfo has no
timeout), the connect, the TLS handshake, each write and each read. Past the deadline the
request fails as for httpx's own timeouts (``httpx.ConnectTimeout``, ``ReadTimeout``,
``WriteTimeout``), so a client retries it, or gives up, as it would any timeout. Connections
are still kept alive between requests: which request a pooled connection serves is the
deadline of the thread using it (httpx's sync client reads in the caller's thread).
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from graphs.outbound import Deadline, NoAnswer, first_connected

_current: ContextVar[Deadline | None] = ContextVar("http_request_deadline", default=None)


def deadline_client(seconds: float, proxied_for: str = "", **options: Any) -> httpx.Client:
    """An ``httpx.Client`` whose every request (each try of it) ends within ``seconds``.
    ``options`` go to the client (``base_url``, ``timeout``, ``headers``...), except
    ``retries`` (httpx's connect retries). ``proxied_for``: a URL this client reaches, through
    the proxy the environment names for it (``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``), as
    httpx would have: a client given a transport of its own no longer looks for one."""
    retries = options.pop("retries", 0)
    proxy = _proxy_for(proxied_for) if proxied_for else None
    transport = DeadlineTransport(seconds, retries=retries, proxy=proxy)
    return httpx.Client(transport=transport, **options)


class DeadlineTransport(httpx.BaseTransport):
    """httpx's own transport, every request of it bounded by one deadline of ``seconds``."""

    def __init__(self, seconds: float, **options: Any) -> None:
        self.seconds = seconds
        self._inner = httpx.HTTPTransport(**options)
        # httpx has no option for the network backend of the connection pool it builds; each
        # connection it opens from here on takes the pool's backend.
        pool = self._inner._pool
        pool._network_backend = _Backend(pool._network_backend)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        deadline = Deadline(self.seconds)
        try:
            with _bounded_by(deadline):
                response = self._inner.handle_request(request)
        except BaseException:
            deadline.stop()
            raise
        assert isinstance(response.stream, httpx.SyncByteStream)
        response.stream = _Body(response.stream, deadline)
        return response

    def close(self) -> None:
        self._inner.close()


@contextmanager
def _bounded_by(deadline: Deadline) -> Iterator[None]:
    token = _current.set(deadline)
    try:
        yield
    finally:
        _current.reset(token)


class _Body(httpx.SyncByteStream):
    """An answer's body, read within its request's deadline (a caller streaming it reads it
    after the transport has returned)."""

    def __init__(self, stream: httpx.SyncByteStream, deadline: Deadline) -> None:
        self._stream = stream
        self._deadline = deadline

    def __iter__(self) -> Iterator[bytes]:
        chunks = iter(self._stream)
        while True:
            with _bounded_by(self._deadline):
                chunk = next(chunks, None)
            if chunk is None:
                return
            yield chunk

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._deadline.stop()


def _left(timeout: float | None, error: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` (httpx's, for one socket operation), cut to what the deadline leaves."""
    deadline = _current.get()
    if deadline is None:  # not for a request (httpcore closing a connection, say)
        return timeout
    try:
        left = deadline.remaining()
    except NoAnswer as exc:
        raise error(str(exc)) from None
    return left if timeout is None else min(timeout, left)


@contextmanager
def _said(error: type[httpcore.TimeoutException]) -> Iterator[None]:
    """A socket operation that timed out because the deadline came says so."""
    try:
        yield
    except httpcore.TimeoutException:
        deadline = _current.get()
        if deadline is not None:
            try:
                deadline.check()
            except NoAnswer as exc:
                raise error(str(exc)) from None
        raise


class _Stream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        with _said(httpcore.ReadTimeout):
            return self._stream.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        with _said(httpcore.WriteTimeout):
            self._stream.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        with _said(httpcore.ConnectTimeout):
            left = _left(timeout, httpcore.ConnectTimeout)
            return _Stream(self._stream.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, backend: httpcore.NetworkBackend) -> None:
        self._backend = backend

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        deadline = _current.get()
        if deadline is None:
            return _Stream(
                self._backend.connect_tcp(host, port, timeout, local_address, socket_options)
            )

        def connect(address: str, left: float) -> httpcore.NetworkStream:
            bound = left if timeout is None else min(timeout, left)
            return self._backend.connect_tcp(address, port, bound, local_address, socket_options)

        try:
            with _said(httpcore.ConnectTimeout):
                stream = first_connected(host, port, deadline, connect, (httpcore.ConnectError,))
        except NoAnswer as exc:
            raise httpcore.ConnectTimeout(str(exc)) from None
        except OSError as exc:  # the name is unknown
            raise httpcore.ConnectError(str(exc)) from exc
        return _Stream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _Stream(self._backend.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._backend.sleep(seconds)


def _proxy_for(url: str) -> str | None:
    parts = urlsplit(url)
    if urllib.request.proxy_bypass(parts.hostname or ""):  # NO_PROXY
        return None
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    # HTTPS_PROXY=proxy.corp:3128 is common; httpx reads it as http://proxy.corp:3128, as here.
    return proxy if proxy is None or "://" in proxy else f"http://{proxy}"
