"""Kept-alive HTTP connections for the Slack Web API client.

slack_sdk's ``WebClient`` opens a new connection (and, against slack.com, a new TLS session)
for every call through ``urllib``. A decision makes three calls, so each click paid three
handshakes. :class:`Connections` keeps idle connections per origin and hands one to the next
call, in whichever thread it runs.

The client's timeout (``SLACK_TIMEOUT``) bounds each call as a whole, not each socket read: a
server (or a proxy) that trickles its answer a byte at a time has the call's connection shut
down when the time is up (:class:`_Watchdog`), and the call raises ``TimeoutError``. Opening a
connection is bounded by it too, the host's lookup included (as :mod:`graphs.outbound` bounds
it: getaddrinfo has no timeout of its own); past it the call raises ``URLError``, as
``urlopen`` does for a connect that timed out.

Nothing is ever sent twice here: a call that fails on a connection, new or reused, raises as
``urllib`` would have (the client's retry handlers and the effect ledger decide what comes
next). What makes reuse safe is checking the connection before a call goes out on it: one that
was idle too long, or that the server has closed meanwhile (its socket reads as ready), is
closed instead of used.
"""

from __future__ import annotations

import heapq
import http.client
import itertools
import os
import select
import socket
import ssl
import threading
import time
import urllib.error
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.message import Message
from io import BytesIO
from urllib.parse import urlsplit

from graphs.outbound import Deadline, first_connected

IDLE_FOR = 30.0  # seconds a connection may wait for its next call (servers close idle ones)
MOST_IDLE = 16  # idle connections kept per origin (the bot's busy threads at once)

Origin = tuple[str, str, int]  # scheme, host, port


@dataclass
class _Idle:
    conn: http.client.HTTPConnection
    since: float


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes


class _Watchdog:
    """One thread for every call of a pool: a call still running at its deadline has its socket
    shut down, so whatever it was blocked on returns (socket timeouts bound each read, not
    their sum). Started with a call, it ends once no call has come for ``IDLE_FOR``."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self._due: list[tuple[float, int]] = []  # a heap, soonest first (ended calls stay)
        self._live: dict[int, socket.socket] = {}
        self._cut: set[int] = set()
        self._seq = itertools.count()
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def watch(self, sock: socket.socket, ends: float) -> int:
        """Watch the connection of ``sock`` (through a descriptor of our own, so a TLS socket's
        state is never touched from this thread) until :meth:`done`."""
        own = socket.socket(fileno=os.dup(sock.fileno()))
        with self._changed:
            token = next(self._seq)
            self._live[token] = own
            heapq.heappush(self._due, (ends, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="slack-deadlines")
                self._thread.daemon = True
                self._thread.start()
            if self._due[0][1] == token:  # sooner than what the thread waits for
                self._changed.notify()
        return token

    def done(self, token: int) -> bool:
        """Stop watching; True when the deadline had already cut the call off."""
        with self._changed:
            own = self._live.pop(token, None)
            cut = token in self._cut
            self._cut.discard(token)
        if own is not None:
            own.close()
        return cut

    def _run(self) -> None:
        while True:
            with self._changed:
                if not self._due:
                    self._changed.wait(IDLE_FOR)
                    if not self._due:  # no call for a while: the next one starts a thread
                        self._thread = None
                        return
                    continue
                ends, token = self._due[0]
                if token not in self._live:
                    heapq.heappop(self._due)
                    continue
                wait = ends - self.clock()
                if wait > 0:
                    self._changed.wait(wait)
                    continue
                heapq.heappop(self._due)
                own = self._live.pop(token)
                self._cut.add(token)
            try:
                own.shutdown(socket.SHUT_RDWR)  # the call's own socket reads an end at once
            except OSError:
                pass  # closed meanwhile: the call ended on its own
            finally:
                own.close()


class Connections:
    """A pool of kept-alive connections, shared by every thread of one client."""

    def __init__(
        self,
        timeout: float,
        context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.timeout = timeout
        self.context = context  # for https (made once, when first needed: it reads the CAs)
        self.clock = clock
        self._idle: dict[Origin, list[_Idle]] = {}
        self._lock = threading.Lock()
        self._watchdog = _Watchdog(time.monotonic)

    def post(
        self,
        url: str,
        body: bytes | None,
        headers: Iterable[tuple[str, str]],
        within: float | None = None,
    ) -> Answer:
        """Send one POST and read its whole answer, within ``within`` seconds (what is left of
        a call's time, when it is tried again) and never over the pool's timeout. Errors while
        connecting or sending come as ``urllib.error.URLError`` and errors while waiting for
        the answer as they are, as from ``urllib.request.urlopen``, so callers read them the
        same way."""
        limit = self.timeout if within is None else max(0.0, min(self.timeout, within))
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or (443 if scheme == "https" else 80)
        origin = (scheme, parts.hostname or "", port)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        conn = self._take(origin)
        ends = time.monotonic() + limit
        token: int | None = None
        try:
            try:
                if conn.sock is None:
                    # Before the watch (there is no socket yet): the lookup is bounded by the
                    # call's time (getaddrinfo has no timeout), the TCP connect by what is left
                    # of it, and CPython bounds a TLS handshake as a whole by the same.
                    self._connect(conn, limit)
                token = self._watchdog.watch(conn.sock, ends)
                conn.request("POST", path or "/", body=body, headers=dict(headers))
            except OSError as exc:
                raise urllib.error.URLError(exc) from exc
            response = conn.getresponse()
            answer = Answer(response.status, response.msg, response.read())
        except BaseException as exc:
            conn.close()
            if token is not None and self._watchdog.done(token):
                raise TimeoutError(f"no answer within {self.timeout:g} s") from exc
            raise
        if token is not None and self._watchdog.done(token):  # cut off just as it ended
            conn.close()
            return answer
        if response.will_close:
            conn.close()
        else:
            self._give_back(origin, conn)
        return answer

    def _connect(self, conn: http.client.HTTPConnection, limit: float) -> None:
        deadline = Deadline(limit)

        def create(
            address: tuple[str, int], timeout: float, source: tuple[str, int] | None = None
        ) -> socket.socket:
            host, port = address

            def tcp(ip: str, left: float) -> socket.socket:
                return socket.create_connection((ip, port), min(timeout, left), source)

            return first_connected(host, port, deadline, tcp)

        conn._create_connection = create  # type: ignore[attr-defined]  # http.client's seam
        try:
            conn.connect()
        finally:
            deadline.stop()
        assert conn.sock is not None
        conn.sock.settimeout(self.timeout)  # each read of the calls to come, as before

    def _take(self, origin: Origin) -> http.client.HTTPConnection:
        now = self.clock()
        while True:
            with self._lock:
                pool = self._idle.get(origin)
                found = pool.pop() if pool else None
            if found is None:
                return self._open(origin)
            if now - found.since < IDLE_FOR and _still_open(found.conn):
                return found.conn
            found.conn.close()

    def _open(self, origin: Origin) -> http.client.HTTPConnection:
        scheme, host, port = origin
        if scheme == "https":
            if self.context is None:
                self.context = ssl.create_default_context()
            context = self.context
            return http.client.HTTPSConnection(host, port, timeout=self.timeout, context=context)
        return http.client.HTTPConnection(host, port, timeout=self.timeout)

    def _give_back(self, origin: Origin, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            pool = self._idle.setdefault(origin, [])
            if len(pool) < MOST_IDLE:
                pool.append(_Idle(conn, self.clock()))
                return
        conn.close()


def _still_open(conn: http.client.HTTPConnection) -> bool:
    """An idle connection has nothing to read: if its socket is readable, the server closed it
    (or broke the protocol), and a call sent on it could be lost on the way."""
    sock = conn.sock
    if sock is None:
        return False
    poller = select.poll()  # not select.select: a descriptor past 1024 is fine here
    try:
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    except (OSError, ValueError):
        return False


def as_http_error(url: str, answer: Answer) -> urllib.error.HTTPError:
    """An answer that is not a success, as ``urlopen`` raises it."""
    return urllib.error.HTTPError(
        url,
        answer.status,
        http.client.responses.get(answer.status, ""),
        answer.headers,
        BytesIO(answer.body),
    )
