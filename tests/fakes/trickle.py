"""A loopback HTTP server that answers one byte at a time, every few seconds.

What a slow or hostile peer does to a client whose timeout bounds each socket read, not the
request: every read gets a byte just in time, so the call never ends. It reads the request's
head, then sends ``HTTP/1.1 200 OK\\r\\n...`` one byte every ``every`` seconds until the client
hangs up (or the whole answer is out, which at the default pace takes minutes).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Self

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


@dataclass(frozen=True)
class Hit:
    request_line: str
    at: float  # time.monotonic() when the request's head was read


class TrickleServer:
    def __init__(self, every: float = 4.0, answer: bytes = ANSWER, greet: bool = False) -> None:
        """``greet``: speak first, as an SMTP server does (``answer`` its greeting)."""
        self.every = every
        self.answer = answer
        self.greet = greet
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._hits: list[Hit] = []
        self._open = 0  # connections being trickled to now
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="trickle", daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopped.set()
        self._thread.join(5)
        self._sock.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    def hits(self) -> list[Hit]:
        with self._lock:
            return list(self._hits)

    @property
    def open_connections(self) -> int:
        with self._lock:
            return self._open

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn, self._lock_open():
            conn.settimeout(5)
            head = b""
            try:
                while not self.greet and b"\r\n\r\n" not in head and len(head) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    head += chunk
            except OSError:
                return
            line = head.split(b"\r\n", 1)[0].decode("latin-1") if head else "(greeted)"
            with self._lock:
                self._hits.append(Hit(line, time.monotonic()))
            for byte in self.answer:
                if self._stopped.wait(self.every):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return  # the client hung up: what a deadline does

    def _lock_open(self) -> _Open:
        return _Open(self)


class _Open:
    def __init__(self, server: TrickleServer) -> None:
        self.server = server

    def __enter__(self) -> None:
        with self.server._lock:
            self.server._open += 1

    def __exit__(self, *exc: object) -> None:
        with self.server._lock:
            self.server._open -= 1
