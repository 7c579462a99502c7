"""A TCP proxy between the bot and PostgreSQL that cuts a connection at the worst moment: the
server takes one statement (runs it, commits it) and its answer never reaches the bot, which
sees the connection drop -- what a restart of the server, a failover or a network cut does
then. Optionally the statement is still on its way when the bot hears of the cut (``late``), or
the whole server goes away with it (``down``). Or the server freezes (:meth:`freeze`): what
is sent to it waits, the connections stay open, nothing comes back -- a server process
stopped (``SIGSTOP``), a host that stopped answering -- until :meth:`thaw`, when it runs what
it was sent, as a stopped server does when it is continued."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from urllib.parse import urlsplit, urlunsplit

# The server's ReadyForQuery ('Z', length 5): it has run (and committed) what it was sent.
READY = b"Z\x00\x00\x00\x05"
RUNS = 10.0  # seconds the server is given, at most, to answer the statement before the cut


class CuttingProxy:
    def __init__(self, upstream: tuple[str, int] = ("127.0.0.1", 5432)) -> None:
        self.upstream = upstream
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.cut = threading.Event()
        self.dropped = bytearray()  # what the server answered the cut connections
        self._pattern: bytes | None = None
        self._then: bytes | None = None
        self._after: bytes | None = None
        self._late = 0.0
        self._down = False
        self._refusing = False
        self._silent = False  # down: nothing more reaches the server on any connection
        self._open: list[socket.socket] = []
        self._freeze_at: bytes | None = None
        self._running = threading.Event()  # cleared while the server is frozen
        self._running.set()
        self.frozen = threading.Event()  # set once a freeze began (its message held)
        self.held = bytearray()  # what was sent to the server while it was frozen
        self._lock = threading.Lock()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database_url: str) -> str:
        """``database_url`` (PostgreSQL's), through this proxy."""
        parts = urlsplit(database_url)
        user, at, _ = parts.netloc.rpartition("@")
        return urlunsplit(parts._replace(netloc=f"{user}{at}127.0.0.1:{self.port}"))

    def arm(
        self,
        pattern: bytes,
        then: bytes | None = None,
        late: float = 0.0,
        down: bool = False,
        after: bytes | None = None,
    ) -> None:
        """Cut the next connection that sends a message containing ``pattern``, after it
        reached the server, before any answer comes back. ``then``: once ``pattern`` went by,
        cut that connection at its next message containing ``then`` instead (a transaction's
        ``COMMIT``). ``late``: the bot's side is cut at once, and the message reaches the
        server ``late`` seconds after. ``down``: from that moment nothing else reaches the
        server (what other connections send is dropped, as by a server that is gone), they
        are cut with it, and new ones are refused until :meth:`restore`. ``after``: once
        ``pattern``'s connection is cut, the next one that sends ``after`` is cut the same way
        (a second statement whose answer is lost too)."""
        with self._lock:
            self._pattern, self._then, self._late, self._down = pattern, then, late, down
            self._after = after
            self.cut.clear()
            self.dropped.clear()

    def freeze(self, at: bytes | None = None) -> None:
        """Freeze the server: at once, or (``at``) when a message containing ``at`` is sent,
        that message held with the rest. Held bytes, both ways, wait for :meth:`thaw`; the
        connections stay open, and a connection closed meanwhile still delivers, once
        thawed, what it had sent (the server then runs it, and may commit it)."""
        with self._lock:
            self.frozen.clear()
            self.held.clear()
            if at is None:
                self._running.clear()
                self.frozen.set()
            else:
                self._freeze_at = at

    def thaw(self) -> None:
        """The server runs again, on what it was sent while frozen first."""
        with self._lock:
            self._freeze_at = None
            self._running.set()

    def restore(self) -> None:
        """The server is back: connections are taken again."""
        with self._lock:
            self._refusing = self._silent = False

    def close(self) -> None:
        self.thaw()  # nothing left waiting on a frozen server
        self._closed = True
        self.listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self._running.wait()  # a frozen server takes no connection (its backlog holds it)
            server = socket.create_connection(self.upstream)
            with self._lock:  # decided with the cut's list, so none slips between the two
                refused = self._refusing
                if not refused:
                    self._open += [client, server]
            if refused:
                _close(client)
                _close(server)
                continue
            state = {"blackhole": False, "answered": threading.Event(), "heard": bytearray()}
            for target, args in ((self._up, (client, server)), (self._down_to, (server, client))):
                threading.Thread(target=target, args=(*args, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict) -> None:
        waiting_for: bytes | None = None
        try:
            while data := client.recv(65536):
                with self._lock:
                    hit = False
                    if waiting_for is not None:
                        hit = waiting_for in data
                    elif self._pattern is not None and self._pattern in data:
                        self._pattern, self._after = self._after, None
                        if self._then is not None:
                            waiting_for, self._then = self._then, None
                        else:
                            hit = True
                    late, down, silent = self._late, self._down, self._silent
                    if self._freeze_at is not None and self._freeze_at in data:
                        self._freeze_at = None
                        self._running.clear()
                        self.frozen.set()
                    if not self._running.is_set():
                        self.held += data
                self._running.wait()  # a frozen server reads nothing until it is thawed
                if silent:  # the server is gone: what is sent now never reaches it
                    continue
                if hit:
                    state["blackhole"] = True  # the answer is dropped
                    self._cut(client, server, data, late, down, state["answered"])
                    return
                server.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)
            _close(server)

    def _cut(
        self,
        client: socket.socket,
        server: socket.socket,
        data: bytes,
        late: float,
        down: bool,
        answered: threading.Event,
    ) -> None:
        if late:
            _close(client)  # the bot hears of the cut now; the statement is still on its way
            time.sleep(late)
        if down:  # from now on, only this statement reaches the server
            with self._lock:
                self._refusing = self._silent = True
        server.sendall(data)
        answered.wait(RUNS)  # the server has run and committed it: its answer is lost
        with self._lock:
            cut = self._open if down else [client, server]
            self._open = [s for s in self._open if s not in cut]
        for s in cut:
            _close(s)
        self.cut.set()

    def _down_to(self, server: socket.socket, client: socket.socket, state: dict) -> None:
        try:
            while data := server.recv(65536):
                self._running.wait()
                if state["blackhole"]:
                    self.dropped += data
                    state["heard"] += data
                    if READY in state["heard"]:
                        state["answered"].set()
                    continue
                client.sendall(data)
        except OSError:
            pass
        finally:
            _close(client)


def _close(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()
