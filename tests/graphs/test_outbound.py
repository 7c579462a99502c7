"""The outbound guard, with a resolver and a connector that record what they are asked: nothing
here opens a socket to anything but loopback (a socketpair, or a server on 127.0.0.1)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from bot.core.effect_errors import certainly_failed, outcome_unknown
from graphs.actions import check_url
from graphs.addresses import Allowlist
from graphs.outbound import (
    REFUSED,
    ConnectionLost,
    CouldNotConnect,
    NoAnswer,
    Outbound,
    Refused,
    connect_tcp,
    resolve_host,
)
from graphs.outcomes import TryAgain

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
PUBLIC = "93.184.215.14"


class Network:
    """A fake DNS and a connector that records every attempt and answers with ``reply`` over a
    socketpair (or raises ``refuse``)."""

    def __init__(self, names: dict[str, list[str]], reply: bytes = OK) -> None:
        self.names = names
        self.reply = reply
        self.refuse: OSError | None = None
        self.rebind: dict[str, list[str]] = {}  # what a second lookup of a name would answer
        self.hang: threading.Event | None = None  # lookups wait for it
        self.lookups: list[tuple[str, int]] = []
        self.attempts: list[tuple[str, int]] = []
        self.peers: list[socket.socket] = []

    def resolve(self, host: str, port: int) -> list[str]:
        if self.hang is not None:
            self.hang.wait(30)
        self.lookups.append((host, port))
        if host in self.rebind and [h for h, _ in self.lookups].count(host) > 1:
            return self.rebind[host]
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.names[host]

    def connect(self, address: str, port: int, timeout: float) -> socket.socket:
        self.attempts.append((address, port))
        if self.refuse is not None:
            raise self.refuse
        ours, theirs = socket.socketpair()
        theirs.sendall(self.reply)
        self.peers.append(theirs)
        return ours

    def sent(self) -> bytes:
        """What the client wrote on the last connection."""
        peer = self.peers[-1]
        peer.settimeout(1)
        return peer.recv(65536)

    def outbound(self, allowlist: str = "", deadline: float = 5.0) -> Outbound:
        return Outbound(Allowlist.from_text(allowlist), self.resolve, self.connect, deadline)


NAMES = {
    "example.com": [PUBLIC],
    "metadata.example": ["169.254.169.254"],
    "sneaky.example": ["127.0.0.1"],
    "split.example": [PUBLIC, "10.1.2.3"],  # one public answer does not make the other safe
    "hooks.example.com": [PUBLIC],
    "hooks.example.com.evil.net": [PUBLIC],
}


@pytest.fixture
def net() -> Iterator[Network]:
    network = Network(dict(NAMES))
    yield network
    for peer in network.peers:
        peer.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[fd00::1]/",
        "http://[::ffff:127.0.0.1]:8080/",
        "http://127.0.0.1:5432/",
        "http://[::1]/",
        "http://100.64.0.1/",
        "http://168.63.129.16/machine?comp=goalstate",  # Azure's host endpoint, in public space
        "http://0.0.0.0/",
        "http://[fe80::1]/",
        "http://metadata.example/",
        "http://sneaky.example:4536/",
        "http://split.example/",
    ],
)
def test_internal_addresses_are_refused_before_any_connection(net: Network, url: str) -> None:
    with pytest.raises(Refused) as refused:
        net.outbound().request("GET", url)
    assert str(refused.value) == REFUSED  # the same words for every reason: no oracle
    assert net.attempts == []


def test_legacy_ip_forms_resolve_to_what_they_are() -> None:
    """``0x7f.1`` is 127.0.0.1 to getaddrinfo (inet_aton): the check is on the address."""
    net = Network({})
    guard = Outbound(Allowlist(), resolve_host, net.connect)
    for url in ("http://0x7f.1/", "http://2130706433/", "http://017700000001/"):
        with pytest.raises(Refused):
            guard.request("GET", url)
    assert net.attempts == []


def test_an_unknown_host_reads_like_a_refused_one(net: Network) -> None:
    with pytest.raises(Refused) as refused:
        net.outbound().request("GET", "http://db.internal/")
    assert str(refused.value) == REFUSED
    assert net.attempts == []


def test_a_public_address_is_connected_to_by_the_address_that_was_checked(net: Network) -> None:
    # A second lookup would answer loopback (DNS rebinding): there must not be one.
    net.rebind["example.com"] = ["127.0.0.1"]
    answer = net.outbound().request("GET", "http://example.com/status?x=1")
    assert answer.status_line == "HTTP 200 OK"
    assert net.lookups == [("example.com", 80)]
    assert net.attempts == [(PUBLIC, 80)]
    request = net.sent().decode()
    assert request.startswith("GET /status?x=1 HTTP/1.1\r\n")
    assert "\r\nHost: example.com\r\n" in request  # the name, not the address


def test_an_ipv4_mapped_public_address_is_reached_as_ipv4(net: Network) -> None:
    net.names["mapped.example"] = [f"::ffff:{PUBLIC}"]
    assert net.outbound().request("GET", "http://mapped.example/").status == 200
    assert net.attempts == [(PUBLIC, 80)]


def test_https_speaks_tls_to_the_name_over_the_checked_address(net: Network) -> None:
    hello: list[bytes] = []

    def peer_reads_the_client_hello() -> None:
        net.peers[-1].settimeout(5)
        hello.append(net.peers[-1].recv(65536))
        net.peers[-1].close()  # no server: the handshake fails

    net.reply = b""
    guard = net.outbound()
    original = net.connect

    def connect(address: str, port: int, timeout: float) -> socket.socket:
        sock = original(address, port, timeout)
        threading.Thread(target=peer_reads_the_client_hello, daemon=True).start()
        return sock

    guard = Outbound(guard.allowlist, net.resolve, connect, 5.0)
    with pytest.raises(CouldNotConnect) as failed:
        guard.request("GET", "https://hooks.example.com/")
    assert net.attempts == [(PUBLIC, 443)]
    assert b"hooks.example.com" in hello[0]  # SNI: the certificate is checked for the name
    assert str(failed.value) == "could not connect"
    assert certainly_failed(failed.value)  # nothing was sent: the ledger may try again


@pytest.mark.parametrize(
    ("url", "allowlist"),
    [
        ("https://hooks.example.com.evil.net/x", "https://hooks.example.com"),
        ("http://127.0.0.1:45367/", "http://127.0.0.1:4536"),
        ("http://hooks.example.com/", "https://hooks.example.com"),
        ("https://hooks.example.com:8443/", "https://hooks.example.com"),
        ("https://hooks.example.com@evil.net/", "https://hooks.example.com"),
        ("https://evil.net/https://hooks.example.com", "https://hooks.example.com"),
    ],
)
def test_the_allowlist_matches_scheme_host_and_port_exactly(
    net: Network, url: str, allowlist: str
) -> None:
    guard = net.outbound(allowlist)
    assert not guard.listed(url)
    with pytest.raises(Refused, match="not in WEBHOOK_ALLOWLIST"):
        check_url(guard, {"url": url})
    assert net.lookups == [] and net.attempts == []


def test_listed_origins_normalise_case_default_port_and_trailing_dot(net: Network) -> None:
    guard = net.outbound("https://Hooks.Example.com/, http://[0:0::1]:4536")
    assert guard.listed("https://hooks.example.com/services/T0")
    assert guard.listed("HTTPS://HOOKS.EXAMPLE.COM.:443/x")
    assert guard.listed("http://[::1]:4536/")
    assert not guard.listed("http://[::1]/")


def test_a_listed_private_host_is_explicitly_allowed_and_only_on_its_port(net: Network) -> None:
    net.names["ci.internal"] = ["10.0.0.7"]
    guard = net.outbound("http://ci.internal:8080, http://127.0.0.1:4536")
    assert guard.request("POST", "http://ci.internal:8080/hook", b"{}").status == 200
    assert guard.request("GET", "http://127.0.0.1:4536/").status == 200
    assert net.attempts == [("10.0.0.7", 8080), ("127.0.0.1", 4536)]
    for url in ("http://ci.internal:8081/", "http://127.0.0.1:45367/"):
        with pytest.raises(Refused):
            guard.request("GET", url)
    assert len(net.attempts) == 2


def test_redirects_are_reported_not_followed(net: Network) -> None:
    net.reply = b"HTTP/1.1 302 Found\r\nLocation: http://169.254.169.254/\r\n\r\n"
    report = check_url(net.outbound(), {"url": "http://example.com/"})
    assert report == "http://example.com/ answered HTTP 302 Found"
    assert net.lookups == [("example.com", 80)] and net.attempts == [(PUBLIC, 80)]


def test_only_the_standard_status_line_is_reported_never_the_body(net: Network) -> None:
    net.reply = b"HTTP/1.1 200 <!here> secrets\r\nContent-Length: 11\r\n\r\nroot:x:0:0:"
    report = check_url(net.outbound(), {"url": "http://example.com/"})
    assert report == "http://example.com/ answered HTTP 200 OK"


def test_an_error_status_to_a_get_is_one_the_ledger_retries(net: Network) -> None:
    net.reply = b"HTTP/1.1 503 Down for <maintenance>\r\nContent-Length: 4\r\n\r\nbody"
    with pytest.raises(TryAgain) as error:
        check_url(net.outbound(), {"url": "http://example.com/"})
    assert str(error.value) == "the server answered HTTP 503 Service Unavailable"
    assert certainly_failed(error.value)  # a GET: repeating it does nothing twice


def test_a_refused_connection_says_nothing_of_the_address(net: Network) -> None:
    net.refuse = ConnectionRefusedError(111, f"Connection refused to {PUBLIC}:80")
    with pytest.raises(CouldNotConnect) as failed:
        net.outbound().request("GET", "http://example.com/")
    assert str(failed.value) == "could not connect"
    assert certainly_failed(failed.value)


@pytest.mark.parametrize(
    "url",
    ["ftp://example.com/", "http://user:pw@example.com/", "http://exa mple.com/", "http://:80/"],
)
def test_urls_that_are_not_plain_http_are_refused(net: Network, url: str) -> None:
    with pytest.raises(Refused, match="^refused: that URL "):
        net.outbound().request("GET", url)
    assert net.lookups == [] and net.attempts == []


def test_a_lookup_that_hangs_is_given_up_at_the_deadline(net: Network) -> None:
    release = net.hang = threading.Event()
    began = time.monotonic()
    try:
        with pytest.raises(NoAnswer, match="no answer within 0.5 s"):
            net.outbound(deadline=0.5).request("GET", "http://example.com/")
    finally:
        release.set()
    assert time.monotonic() - began < 2
    assert net.attempts == []


class Trickler:
    """A loopback server that answers one byte every ``every`` seconds, forever: each read
    gets a byte well within any per-read timeout, so only a total deadline ends the call."""

    def __init__(self, every: float = 0.05) -> None:  # 20 bytes a second
        self.every = every
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sent = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            # About 5 s of bytes (then silence), so a client without a total deadline shows
            # up as a slow call, not as a test that hangs.
            stream = b"HTTP/1.1 200 OK\r\n" + b"X-Slow: " + b"a" * 75
            for byte in stream:
                if self.stopping.wait(self.every):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client hung up: what the test wants
                self.sent += 1
            self.stopping.wait()

    def stop(self) -> None:
        self.stopping.set()
        self.listener.close()
        self.thread.join(5)


@pytest.fixture
def trickler() -> Iterator[Trickler]:
    server = Trickler()
    yield server
    server.stop()


@pytest.mark.timeout(60)
def test_a_trickling_server_is_cut_off_at_the_total_deadline(trickler: Trickler) -> None:
    url = f"http://127.0.0.1:{trickler.port}/"
    guard = Outbound(Allowlist.from_text(url), resolve_host, connect_tcp, deadline=1.0)
    began = time.monotonic()
    with pytest.raises(NoAnswer) as gave_up:
        guard.request("GET", url)
    took = time.monotonic() - began
    assert 1.0 <= took < 2.0, took
    assert trickler.sent >= 5  # it was answering, a byte at a time, all along
    assert str(gave_up.value) == "no answer within 1 s"
    assert outcome_unknown(gave_up.value)  # it may have arrived: never sent twice


@pytest.mark.timeout(60)
def test_an_answer_s_headers_are_read_within_a_small_budget() -> None:
    # 99 header lines of 65 KB each: http.client alone would take in and parse 6 MB of them.
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, contextlib.suppress(OSError):
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for n in range(99):
                conn.sendall(b"X-%d: " % n + b"a" * 65000 + b"\r\n")
            conn.sendall(b"\r\n")

    threading.Thread(target=serve, daemon=True).start()
    url = f"http://127.0.0.1:{port}/"
    guard = Outbound(Allowlist.from_text(url), resolve_host, connect_tcp, 10.0)
    tracemalloc.start()
    try:
        with pytest.raises(ConnectionLost):
            guard.request("GET", url)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        listener.close()
    assert peak < 2_000_000, f"one call held {peak / 1e6:.1f} MB of an answer's headers"
