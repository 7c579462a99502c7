"""Outbound HTTP for the shipped actions, guarded against server-side request forgery.

One request, made the careful way:

- the host is resolved once (``resolve``, injectable) and every address it gave is checked with
  :func:`graphs.addresses.reachable`; an origin on the allowlist is trusted with whatever its
  host resolves to, because the operator named it (an internal webhook on purpose);
- the connection goes to an address that was checked (``connect``, injectable), never to the
  name, so a second DNS answer cannot differ from the first (DNS rebinding); the Host header and
  TLS (SNI and certificate check) still use the name;
- redirects are not followed: a 3xx is an answer like any other;
- one deadline bounds the whole request (lookup, connect, TLS, send, status line and headers),
  not each socket read: a server that trickles a byte every few seconds is cut off;
- the body is never read, and errors say only what kind of failure it was.

Errors (each ``str()`` is fit to show in Slack; none carries an address, errno or body):

- :class:`Refused`: not sent; the URL or its address is not allowed, or the host is unknown;
- :class:`CouldNotConnect` (a ``ConnectionRefusedError``): nothing reached the other side;
- :class:`NoAnswer` (a ``TimeoutError``): the deadline passed; it may have arrived;
- :class:`ConnectionLost` (a ``ConnectionResetError``): the connection failed after sending;
- :class:`NoSlot`: not sent; every slot for outbound calls is taken (``slots``), so the call
  waits its turn (``bot.core.ledger`` runs it again later, as no try at all).

The builtin bases are what ``bot.core.ledger`` reads to decide whether an effect is retried.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any, NoReturn, TypeVar

from graphs.addresses import Allowlist, IPAddress, Target, parse_target, reachable

DEADLINE = 15.0  # seconds for the whole request
HEAD_LIMIT = 64 * 1024  # bytes of status line and headers read from an answer, at most
USER_AGENT = "agent-approvals (Slack approval bot)"
REFUSED = "refused: that host is unknown or its address is not allowed"

Resolver = Callable[[str, int], list[str]]  # (host, port) -> addresses
Connector = Callable[[str, int, float], socket.socket]  # (address, port, timeout) -> socket
Opened = TypeVar("Opened")


class OutboundError(Exception):
    """A request the guard refused or that got no answer; the text is safe to show."""


class Refused(OutboundError):
    pass


class CouldNotConnect(OutboundError, ConnectionRefusedError):
    pass


class NoAnswer(OutboundError, TimeoutError):
    pass


class ConnectionLost(OutboundError, ConnectionResetError):
    pass


class NoSlot(OutboundError):
    """Nothing was sent: as many outbound calls as allowed are under way; try again later."""


def resolve_host(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def connect_tcp(address: str, port: int, timeout: float) -> socket.socket:
    # An IP literal: create_connection does no DNS lookup of its own.
    return socket.create_connection((address, port), timeout=timeout)


@dataclass(frozen=True)
class Answer:
    status: int

    @property
    def status_line(self) -> str:
        """``HTTP 200 OK``: the phrase is the standard one, never the server's own text."""
        try:
            return f"HTTP {self.status} {HTTPStatus(self.status).phrase}"
        except ValueError:
            return f"HTTP {self.status}"


@dataclass(frozen=True)
class Outbound:
    allowlist: Allowlist = field(default_factory=Allowlist)
    resolve: Resolver = resolve_host
    connect: Connector = connect_tcp
    deadline: float = DEADLINE
    tls: ssl.SSLContext | None = None  # None: the system's trust store, hostnames checked
    # A slot held for the whole request, raising NoSlot when none is free (bot.core.effect_slots):
    # slow targets then hold only so many of the bot's workers.
    slots: Callable[[], AbstractContextManager[None]] | None = None

    def listed(self, url: str) -> bool:
        """True when the URL's scheme, host and port are exactly an allowlist entry."""
        try:
            return self.allowlist.allows(parse_target(url.strip()).origin)
        except ValueError:
            return False

    def request(
        self,
        method: str,
        url: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request and return its status; never follows a redirect."""
        try:
            target = parse_target(url.strip())
        except ValueError as exc:
            raise Refused(f"refused: that URL {exc}") from None
        headers = {"User-Agent": USER_AGENT, "Connection": "close", **(headers or {})}
        with self.slots() if self.slots is not None else contextlib.nullcontext():
            deadline = Deadline(self.deadline)  # from the start of the call, not of the wait
            try:
                addresses = self._addresses(target, deadline)
                return self._exchange(target, addresses, method, body, headers, deadline)
            finally:
                deadline.stop()

    def _addresses(self, target: Target, deadline: Deadline) -> list[IPAddress]:
        """The host's addresses, each checked, looked up once (an IP literal needs no lookup)."""
        origin = target.origin
        try:
            if _is_address(origin.host):
                found = [origin.host]
            else:
                found = within(self.resolve, origin.host, origin.port, deadline)
            addresses = [ipaddress.ip_address(a) for a in found]
        except NoAnswer:
            raise
        except (OSError, ValueError, UnicodeError):
            raise Refused(REFUSED) from None  # unknown and forbidden look the same from outside
        if not addresses:
            raise Refused(REFUSED)
        # Every address, not just the first: a name may answer one public and one private.
        if not self.allowlist.allows(origin) and not all(reachable(a) for a in addresses):
            raise Refused(REFUSED)
        # ::ffff:a.b.c.d is the IPv4 address a.b.c.d: connect to it as such.
        return [_unmapped(a) for a in addresses]

    def _exchange(
        self,
        target: Target,
        addresses: list[IPAddress],
        method: str,
        body: bytes | None,
        headers: Mapping[str, str],
        deadline: Deadline,
    ) -> Answer:
        tls = None
        if target.origin.scheme == "https":
            tls = self.tls or ssl.create_default_context()
        conn = PinnedConnection(target, addresses, self.connect, tls, deadline)
        try:
            try:
                conn.connect()
            except (OSError, ssl.SSLError, ValueError):
                deadline.check()
                raise CouldNotConnect("could not connect") from None
            try:
                conn.request(method, target.path, body=body, headers=dict(headers))
                # The status line and headers; the body is never read. With "Connection:
                # close" the response owns the socket from here, so it is closed by hand.
                with conn.getresponse() as response:
                    deadline.check()  # cut off at the deadline part way through the headers
                    return Answer(response.status)
            except (OSError, http.client.HTTPException, ValueError):
                deadline.check()
                raise ConnectionLost("the connection failed before an answer") from None
        finally:
            conn.close()


class _HeadOnly:
    """An answer's stream, read for its status line and headers only: past ``limit`` bytes it
    raises, so a server sending 100 header lines of 64 KiB each (what http.client would
    otherwise take in, parse and keep) costs this process ``limit`` bytes, not megabytes."""

    def __init__(self, stream: Any, limit: int) -> None:
        self._stream, self._left = stream, limit

    def readline(self, size: int = -1) -> bytes:
        return self._taken(self._stream.readline(self._at_most(size)))

    def read(self, size: int = -1) -> bytes:
        return self._taken(self._stream.read(self._at_most(size)))

    def _at_most(self, size: int) -> int:
        return self._left + 1 if size < 0 else min(size, self._left + 1)

    def _taken(self, data: bytes) -> bytes:
        self._left -= len(data)
        if self._left < 0:
            raise http.client.LineTooLong("the answer's status line and headers")
        return data

    def close(self) -> None:
        self._stream.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class _HeadOnlyResponse(http.client.HTTPResponse):
    def __init__(self, sock: socket.socket, *args: Any, **kwargs: Any) -> None:
        super().__init__(sock, *args, **kwargs)
        self.fp = _HeadOnly(self.fp, HEAD_LIMIT)  # type: ignore[assignment]  # reads the same


class PinnedConnection(http.client.HTTPConnection):
    """An HTTP(S) connection to an address already checked, speaking to the host by name."""

    response_class = _HeadOnlyResponse

    def __init__(
        self,
        target: Target,
        addresses: list[IPAddress],
        connector: Connector,
        tls: ssl.SSLContext | None,
        deadline: Deadline,
    ) -> None:
        origin = target.origin
        super().__init__(origin.host, origin.port, timeout=deadline.remaining())
        # Host: carries the port only when it is not the scheme's own (as a browser sends it).
        self.default_port = 443 if tls else 80
        self._addresses = addresses
        self._connector = connector
        self._tls = tls
        self._deadline = deadline

    def connect(self) -> None:
        failure: BaseException = OSError("no address")
        for address in self._addresses:
            try:
                sock = self._connector(str(address), self.port, self._deadline.remaining())
                break
            except NoAnswer:
                raise
            except OSError as exc:
                failure = exc  # try the next checked address, as create_connection would
        else:
            raise failure
        self._deadline.watch(sock)
        try:
            if self._tls is not None:
                sock = self._tls.wrap_socket(
                    sock, server_hostname=self.host, do_handshake_on_connect=False
                )
                self._deadline.watch(sock)
                sock.settimeout(self._deadline.remaining())
                sock.do_handshake()
            sock.settimeout(self._deadline.remaining())
        except BaseException:
            sock.close()  # not ours to close later: self.sock is not set yet
            raise
        self.sock = sock


class Deadline:
    """One deadline for a whole request. Socket timeouts bound each read, not their sum, so a
    timer shuts the connection down when the time is up; whatever was blocked returns, and
    :meth:`check` turns that into :class:`NoAnswer`."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._ends = clock() + seconds
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._done = False
        self.expired = False
        self._timer = threading.Timer(seconds, self._cut)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        """Seconds left; :class:`NoAnswer` when there are none."""
        self.check()
        return self._ends - self._clock()

    def check(self) -> None:
        if self.expired or self._ends - self._clock() <= 0:
            self.fail()

    def fail(self) -> NoReturn:
        self.expired = True
        raise NoAnswer(f"no answer within {self.seconds:g} s")

    def watch(self, sock: socket.socket) -> None:
        """The socket to shut down when time is up (the TLS one, once there is one)."""
        with self._lock:
            self._sock = sock
        if self.expired:
            self._cut()

    def stop(self) -> None:
        with self._lock:
            self._done = True  # the socket is about to be closed: leave it alone
        self._timer.cancel()

    def _cut(self) -> None:
        with self._lock:
            self.expired = True
            if self._done or self._sock is None:
                return
            # The plain socket call, also for an SSLSocket: its own shutdown() would drop the
            # TLS state under a thread still reading with it. OSError: not connected, or closed.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(self._sock, socket.SHUT_RDWR)


def _unmapped(address: IPAddress) -> IPAddress:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def within(resolve: Resolver, host: str, port: int, deadline: Deadline) -> list[str]:
    """``resolve`` bounded by the deadline: getaddrinfo has no timeout of its own. A lookup
    that hangs is left to finish in its daemon thread."""
    answers: queue.Queue[tuple[bool, object]] = queue.Queue(1)

    def run() -> None:
        try:
            answers.put((True, resolve(host, port)))
        except BaseException as exc:  # handed to the caller
            answers.put((False, exc))

    threading.Thread(target=run, name="outbound-resolve", daemon=True).start()
    try:
        ok, value = answers.get(timeout=deadline.remaining())
    except queue.Empty:
        deadline.fail()
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    assert isinstance(value, list)
    return value


def first_connected(
    host: str,
    port: int,
    deadline: Deadline,
    connect: Callable[[str, float], Opened],
    failures: tuple[type[Exception], ...] = (OSError,),
) -> Opened:
    """``connect(address, seconds_left)`` to each address of ``host`` in turn until one
    connects, as ``socket.create_connection`` does, but with the lookup bounded by the deadline
    (:func:`within`) and each try given only the time left. :class:`NoAnswer` once it is past."""
    addresses = [host] if _is_address(host) else within(resolve_host, host, port, deadline)
    if not addresses:
        raise OSError(f"{host} has no address")
    failure: Exception | None = None
    for address in addresses:
        try:
            return connect(address, deadline.remaining())
        except NoAnswer:
            raise
        except failures as exc:
            failure = exc  # the next address, as create_connection would
    assert failure is not None
    raise failure
