"""A deadline kept on our side of a connection, for the statements before an ack (and each
statement of an HTTP API call: bot.store.db.base.Patience).

The limits a statement before an ack sets (``lock_timeout``, ``statement_timeout``) are kept by
the server: a server that froze (its process stopped, its host swallowing packets) keeps none,
and sends nothing, not even an error. The kernel gives up on such a connection only after
``tcp_user_timeout`` (10 s) and, when the bytes were taken (a stopped process's kernel still
takes them), never; Slack gives up after 3 s. So a connection still busy on such a statement
at its deadline is shut down from here: the statement fails as on a connection lost, and its
caller treats it as one (it may have committed, or may yet: see ``OutcomeUnknown``). Only the
socket is shut down (the connection's thread still owns it, and closes it): the pool replaces
the broken connection, so its slot is not held.

One thread watches every deadline, and sleeps while there is none: a statement adds its
deadline and, ended, marks it done (a lock taken twice, no thread started per statement).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)


class Watch:
    """One deadline: ``cut`` once the connection was shut down at it. ``socket``: which socket
    the descriptor named when the watch began (device and inode): libpq closes the descriptor of
    a connection it finds dropped, inside the watched block, and the number may then name
    another thread's file by the deadline; that one is left alone."""

    __slots__ = ("fd", "socket", "done", "cut")

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.socket = _identity(fd)
        self.done = False
        self.cut = False


class Cutoff:
    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._due: list[tuple[float, int, Watch]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    @contextmanager
    def within(self, conn: Any, at: float) -> Iterator[Watch]:
        """Around work on ``conn`` (a psycopg connection, used by this thread only) that must
        end by ``at`` (``time.monotonic()``): still going then, its socket is shut down."""
        watch = Watch(conn.fileno())
        with self._changed:
            heapq.heappush(self._due, (at, next(self._order), watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="cutoff", daemon=True)
                self._thread.start()
            elif self._due[0][2] is watch:  # sooner than the one being waited for
                self._changed.notify()
        try:
            yield watch
        finally:
            # Under the lock: once this returns, the socket is never shut down, so the
            # connection may go back to the pool and be handed to another thread.
            with self._changed:
                watch.done = True

    def _run(self) -> None:
        with self._changed:
            while True:
                while self._due and self._due[0][2].done:
                    heapq.heappop(self._due)
                if not self._due:
                    self._changed.wait()
                    continue
                left = self._due[0][0] - time.monotonic()
                if left > 0:
                    self._changed.wait(left)
                    continue
                _, _, watch = heapq.heappop(self._due)
                watch.done = watch.cut = True
                _shut_down(watch.fd, watch.socket)


def _identity(fd: int) -> tuple[int, int] | None:
    try:
        stat = os.fstat(fd)
    except OSError:  # closed already
        return None
    return stat.st_dev, stat.st_ino


def _shut_down(fd: int, identity: tuple[int, int] | None) -> None:
    """Shut the socket of ``fd`` down both ways, through a copy of the descriptor (the
    connection's own stays open: its thread closes it), if it is still the socket the watch
    began on."""
    logger.warning("a statement passed its deadline unanswered; its connection is cut")
    try:
        copy = os.dup(fd)
    except OSError:  # closed already
        return
    if identity is None or _identity(copy) != identity:
        os.close(copy)  # closed, and the number taken by another file since: not ours
        return
    try:
        sock = socket.socket(fileno=copy)
    except OSError:
        os.close(copy)
        return
    with sock:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            logger.debug("could not shut a connection down", exc_info=True)


CUTOFF = Cutoff()  # one thread for the process
