"""The PostgreSQL connection pool: its connections' settings and their liveness checks.

A psycopg_pool pool (:class:`Pool`) that hands out the connection returned last, checks one
only when it has been idle a while or the server spoke meanwhile (:class:`Liveness`), gives each
new connection its limits (:func:`configure`) and its dead-peer settings (:func:`dead_peer_limits`).
"""

from __future__ import annotations

import select
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg_pool import ConnectionPool

from bot.store.db.cutoff import CUTOFF
from bot.store.db.locks import STATEMENT_TIMEOUT, WAIT

# A connection back in the pool for less than this is handed out again without a liveness check
# (HikariCP's "bypass window" is 500 ms too): a check is a round trip of its own, and checking
# every time doubled the round trips of every statement, the ones before an ack included.
RECENT = 0.5
# How long a connection to a server that stopped answering at the network level (a host gone,
# packets dropped) lives: the kernel gives up on unacknowledged data after TCP_USER_TIMEOUT and
# probes an idle connection every few seconds, so a statement ends in seconds with an error
# instead of ~15 minutes of TCP retransmissions. A server that is merely slow still acknowledges
# what it is sent and is not cut off. Settings the DATABASE_URL names itself win.
DEAD_PEER = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 10_000,  # milliseconds
}

# When a statement before an ack (or of an API call) must have its connection: the pool's check
# of a connection it hands out (a round trip) is cut off then too.
_checked_by: ContextVar[float | None] = ContextVar("checked_by", default=None)


class Liveness:
    """psycopg_pool's per-checkout check, skipped for a connection returned moments ago.

    After a server restart a connection returned within the window has the server's goodbye to
    read, so it is checked and replaced too (:func:`_heard_from`); one dropped without a word (a
    network cut) fails its next statement once (psycopg then marks it broken and the pool
    replaces it); one idle longer is checked and replaced before use, as before.

    The return is noted by :class:`Pool` as the connection comes back, not by the pool's
    ``reset`` hook: with a ``reset`` psycopg_pool hands every return to its maintenance thread,
    a thread hop per statement that took about a tenth of the interpreter in a decision.
    """

    def __init__(self) -> None:
        self._returned: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()

    def returned(self, conn: Any) -> None:
        self._returned[conn] = time.monotonic()

    def check(self, conn: Any) -> None:
        at = self._returned.get(conn)
        fresh = at is not None and time.monotonic() - at < RECENT and not conn.broken
        if fresh and not _heard_from(conn):
            return
        by = _checked_by.get()
        with CUTOFF.within(conn, by) if by is not None else nullcontext():
            ConnectionPool.check_connection(conn)


def _heard_from(conn: Any) -> bool:
    """Whether an idle connection has something to read: nothing is expected, so it is most
    likely the server's goodbye (a restart or a terminated backend says so, then closes). A
    look without waiting, so a connection the server has already dropped is checked, and
    replaced, before a statement is sent on it: a write sent on it would be of unknown outcome
    (was it taken before the drop?), and its person told so instead of "not recorded"."""
    try:
        readable, _, _ = select.select([conn.fileno()], [], [], 0)
    except (OSError, ValueError, psycopg.Error):  # closed already: the full check says so
        return True
    return bool(readable)


@contextmanager
def checks_cut_off(at: float) -> Iterator[None]:
    """The liveness check of a connection handed out meanwhile is cut off at ``at``."""
    token = _checked_by.set(at)
    try:
        yield
    finally:
        _checked_by.reset(token)


def configure(conn: Any) -> None:
    # JIT compiles plans whose estimated cost is high (a sweep over many pending requests) and
    # spent more time compiling (~280 ms a query) than running them: an OLTP bot never gains.
    conn.execute("SET jit = off")
    # No statement and no lock wait runs without a limit (migrations lift both for their own
    # transaction): a hung peer or a forgotten lock ends in an error, not in a stuck worker.
    conn.execute(f"SET statement_timeout = '{round(STATEMENT_TIMEOUT * 1000)}ms'")
    conn.execute(f"SET lock_timeout = '{round(WAIT * 1000)}ms'")


def dead_peer_limits(url: str) -> dict[str, Any]:
    given = conninfo_to_dict(url)
    return {key: value for key, value in DEAD_PEER.items() if key not in given}


class Pool(ConnectionPool[Any]):
    def __init__(self, *args: Any, liveness: Liveness, **kwargs: Any) -> None:
        self._liveness = liveness
        super().__init__(*args, check=liveness.check, **kwargs)

    def putconn(self, conn: Any) -> None:
        self._liveness.returned(conn)
        super().putconn(conn)

    def _get_ready_connection(self, timeout: float | None) -> Any:
        """The most recently returned idle connection, not the least (psycopg_pool's order).

        Taken in turn, every idle connection had been back longer than RECENT by the time a
        quiet bot used it again, so a lone click paid a liveness round trip on most of its
        statements; the one just returned skips it, its server process has the click's rows
        and plans warm, and the ones left idle at the other end are those the pool closes
        first when it shrinks. Called under the pool's lock, as the method it extends."""
        conn = super()._get_ready_connection(timeout)
        idle = getattr(self, "_pool", None)
        if conn is not None and idle:
            idle.appendleft(conn)
            conn = idle.pop()
        return conn
