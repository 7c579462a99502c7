"""PostgreSQL backend: one psycopg pool shared by our tables and LangGraph's PostgresSaver."""

from __future__ import annotations

import logging
import select
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from bot.store.db.base import (
    ACK_WINDOW,
    ANSWER_WITHIN,
    QUICK_FLOOR,
    NoAnswer,
    OutcomeUnknown,
    Params,
    Patience,
    Row,
    WriteWithdrawn,
    answer_by,
    patience,
    quick_budget,
)
from bot.store.db.cutoff import CUTOFF
from bot.store.db.locks import (
    LOCK_SQL,
    SET_LOCK_TIMEOUT,
    STATEMENT_TIMEOUT,
    TRY_SQL,
    UNLOCK_SQL,
    WAIT,
    Acquire,
    LockBusy,
    Locks,
)

QUICK_TIMEOUT = 1.5  # seconds to wait for a connection before an ack: far inside Slack's 3 s
# A statement before an ack has its own limits, not the session's (30 s for a lock, 60 s in
# all): another session's lock on the table it writes (a CREATE INDEX that is not CONCURRENTLY,
# a migration of a rolling deploy, a LOCK TABLE) would otherwise hold the click past Slack's 3 s,
# Slack would tell the person it failed, and the click would be carried out once the lock went.
# Bounded, it fails (and is rolled back: nothing of it is applied later), and the person hears
# "not recorded, nothing changed". The wait for a connection and the statement share QUICK_BUDGET:
# the statement gets what the wait left of it, QUICK_STATEMENT at most, QUICK_FLOOR at least.
QUICK_STATEMENT = 1.0
QUICK_BUDGET = 2.0
# The expiry waits out the writes before an ack (bot.store.db.base): they must end before it.
assert QUICK_BUDGET + 0.5 <= ACK_WINDOW, "an expiry could miss a click still being recorded"
# A write whose connection was lost after it was sent may have committed (or may yet): before
# its caller answers, it is withdrawn on another connection (its ``undo``), within what is left
# of QUICK_ANSWER from the write's start, which leaves Slack's 3 s room for the HTTP round trip.
QUICK_ANSWER = ANSWER_WITHIN  # counted from the request's arrival, when its listener set it
# A server that froze keeps none of its limits: a statement before an ack still going this long
# after its server-side limit (time for that limit's error to come back) is cut off on our side
# (bot.store.db.cutoff), by the ack's deadline at the latest.
QUICK_GRACE = 0.25
# A connection back in the pool for less than this is handed out again without a liveness check
# (HikariCP's "bypass window" is 500 ms too): a check is a round trip of its own, and checking
# every time doubled the round trips of every statement, the ones before an ack included.
RECENT = 0.5

logger = logging.getLogger(__name__)
T = TypeVar("T")
# When a statement before an ack must have its connection: the pool's check of a connection it
# hands out (a round trip) is cut off then too.
_checked_by: ContextVar[float | None] = ContextVar("checked_by", default=None)


class _Liveness:
    """psycopg_pool's per-checkout check, skipped for a connection returned moments ago.

    After a server restart a connection returned within the window has the server's goodbye to
    read, so it is checked and replaced too (:func:`_heard_from`); one dropped without a word (a
    network cut) fails its next statement once (psycopg then marks it broken and the pool
    replaces it); one idle longer is checked and replaced before use, as before.

    The return is noted by :class:`_Pool` as the connection comes back, not by the pool's
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


def _configure(conn: Any) -> None:
    # JIT compiles plans whose estimated cost is high (a sweep over many pending requests) and
    # spent more time compiling (~280 ms a query) than running them: an OLTP bot never gains.
    conn.execute("SET jit = off")
    # No statement and no lock wait runs without a limit (migrations lift both for their own
    # transaction): a hung peer or a forgotten lock ends in an error, not in a stuck worker.
    conn.execute(f"SET statement_timeout = '{round(STATEMENT_TIMEOUT * 1000)}ms'")
    conn.execute(f"SET lock_timeout = '{round(WAIT * 1000)}ms'")


class _Pool(ConnectionPool[Any]):
    def __init__(self, *args: Any, liveness: _Liveness, **kwargs: Any) -> None:
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


class _Session:
    def __init__(self, conn: Any) -> None:
        self.conn = conn

    def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        return self.conn.execute(sql, params or {}).fetchone()

    def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        cursor = self.conn.execute(sql, params or {})
        return cursor.fetchall() if cursor.description else []

    def execute(self, sql: str, params: Params = None) -> int:
        return self.conn.execute(sql, params or {}).rowcount


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


def dead_peer_limits(url: str) -> dict[str, Any]:
    given = conninfo_to_dict(url)
    return {key: value for key, value in DEAD_PEER.items() if key not in given}


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, url: str, max_size: int = 20) -> None:
        # autocommit + dict_row are what PostgresSaver requires; prepare_threshold=None keeps
        # the bot usable behind PgBouncer. The liveness check lets the pool survive a restart.
        self.pool = _Pool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "prepare_threshold": None,
                **dead_peer_limits(url),
            },
            configure=_configure,
            liveness=_Liveness(),
            open=True,
        )
        self._saver: Any = None
        self._locks = Locks(postgres_acquire(self.pool))

    def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        with self._connection() as conn:
            return _Session(conn).fetch_one(sql, params)

    def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        with self._connection() as conn:
            return _Session(conn).fetch_all(sql, params)

    def execute(self, sql: str, params: Params = None) -> int:
        with self._connection() as conn:
            return _Session(conn).execute(sql, params)

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """A connection of the pool; in an API call (:class:`~bot.store.db.base.Patience`),
        waited for, checked and used within the call's patience, else :class:`NoAnswer`."""
        bound = patience()
        if bound is None:
            with self.pool.connection() as conn:
                yield conn
            return
        bound.ask()
        with (
            _no_connection_is_no_answer(bound),
            _checks_cut_off(time.monotonic() + bound.within),
            self.pool.connection(timeout=bound.within) as conn,
            _answered(conn, bound),
        ):
            yield conn

    def execute_quick(self, sql: str, params: Params = None, undo: str | None = None) -> int:
        return self._quick(sql, params, undo, lambda cursor: int(cursor.rowcount))

    def fetch_one_quick(
        self, sql: str, params: Params = None, undo: str | None = None
    ) -> Row | None:
        return self._quick(sql, params, undo, _one)

    def fetch_all_quick(self, sql: str, params: Params = None) -> list[Row]:
        return self._quick(sql, params, None, _all)

    def _quick(self, sql: str, params: Params, undo: str | None, result: Callable[[Any], T]) -> T:
        """One statement before an ack (:meth:`_limited`); one whose connection was lost after
        it was sent is withdrawn by ``undo`` before this raises (see Database.execute_quick)."""
        began = time.monotonic()
        deadline = answer_by(began)  # the request's, when reads before took some of it
        budget = quick_budget(began, QUICK_BUDGET)
        bound = patience()  # an API call's (POST /api/runs records its run so)
        if bound is not None:
            bound.ask()  # sends nothing once the call gave up (or waited through a silence)
        try:
            with _no_connection_is_no_answer(bound):
                return self._limited(sql, params, budget, result, deadline)
        except OutcomeUnknown as lost:
            if undo is None:
                raise
            raise self._withdraw(undo, params, deadline) from lost

    def _withdraw(self, undo: str, params: Params, deadline: float) -> Exception:
        """What to raise for a write whose answer was lost, once ``undo`` withdrew it (tried
        again, on another connection, while ``deadline`` allows), or could not."""
        while (left := deadline - time.monotonic()) >= QUICK_FLOOR:
            try:
                row = self._limited(undo, params, left, _one, deadline)
            except (psycopg.OperationalError, OutcomeUnknown):
                # Connection gone or limit reached: its undo is safe to run again.
                logger.warning("could not withdraw a write whose answer was lost", exc_info=True)
                continue
            except Exception:  # whatever else failed, the write's outcome is still unknown
                logger.exception("the withdrawal of a write whose answer was lost failed")
                break
            if row and row["withdrawn"]:
                return WriteWithdrawn("the connection was lost after a write; it was withdrawn")
            return OutcomeUnknown("a write whose answer was lost was taken up meanwhile")
        return OutcomeUnknown("a write whose answer was lost could not be withdrawn in time")

    def _limited(
        self, sql: str, params: Params, budget: float, result: Callable[[Any], T], by: float
    ) -> T:
        """One statement under limits of its own, within ``budget`` seconds in all, set in the
        same round trip: ``SET LOCAL`` for its lock wait and its run time, then the statement,
        sent as one simple query (client-side binding: psycopg quotes the parameters), which
        PostgreSQL runs as one implicit transaction, so the limits end with it and an error
        rolls all of it back (PostgreSQL lifts statement_timeout before that commit, so a
        timeout is never the commit's). A connection lost once the statement was sent raises
        :class:`OutcomeUnknown`: it may have committed; so does one still unanswered
        ``QUICK_GRACE`` after its limit, or at ``by``, cut off then on our side (a server that
        froze keeps no limit). ``result`` reads the cursor, left on the statement's own result."""
        asked = time.monotonic()
        wait = min(QUICK_TIMEOUT, budget - QUICK_FLOOR)
        with _checks_cut_off(asked + wait), self.pool.connection(timeout=wait) as conn:
            sent = time.monotonic()
            # The server's own limit ends in time for its error to come back before the cut
            # at ``by``: a write it refused is "not done", one cut off is of unknown outcome.
            left = min(budget - (sent - asked), by - sent - QUICK_GRACE)
            seconds = min(QUICK_STATEMENT, max(QUICK_FLOOR, left))
            limit = _ms(seconds)
            cut_at = min(sent + seconds + QUICK_GRACE, max(by, sent + QUICK_FLOOR))
            with psycopg.ClientCursor(conn) as cursor, CUTOFF.within(conn, cut_at) as watch:
                try:
                    cursor.execute(
                        f"SET LOCAL lock_timeout = '{limit}'; "
                        f"SET LOCAL statement_timeout = '{limit}'; {sql.strip()}",
                        params or {},
                    )
                except psycopg.Error as exc:
                    if watch.cut:
                        _unanswered()
                        raise OutcomeUnknown("no answer in time: the connection was cut") from exc
                    if conn.broken:
                        raise OutcomeUnknown("the connection was lost after a statement") from exc
                    raise
                cursor.nextset()
                cursor.nextset()
                return result(cursor)

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        with self._connection() as conn, conn.transaction():
            yield _Session(conn)

    def key_lock(self, key: str, wait: float = WAIT) -> AbstractContextManager[None]:
        # A session-level advisory lock: released on unlock, or by the server if we die.
        return self._locks.hold(key, wait)

    def try_lock(self, key: str) -> AbstractContextManager[None]:
        return self._locks.hold(key, 0)

    def checkpointer(self) -> Any:
        if self._saver is None:
            from langgraph.checkpoint.postgres import PostgresSaver

            self._saver = PostgresSaver(self.pool)
            # PostgresSaver puts every checkpoint read and write of the process behind one
            # threading.Lock, which a single shared connection needs; ours come from the pool,
            # each on a connection of its own for the call, so they need not wait for each
            # other. (One thread's writes stay in order: LangGraph chains them itself, and the
            # run's lock keeps two workers off one thread.) With the lock, the checkpointer was
            # the ceiling of sustained decisions in a process: 8 workers took turns at it.
            self._saver.lock = nullcontext()
            self._saver.setup()
        return self._saver

    def close(self) -> None:
        self.pool.close()


@contextmanager
def _answered(
    conn: Any, bound: Patience, waits: float = 0.0, session: bool = False
) -> Iterator[None]:
    """Work on ``conn`` in an API call: still going ``bound.within`` seconds from now (plus
    ``waits``, a lock wait it asks the server for), its connection is cut, and it raises
    :class:`NoAnswer`; the call then gives up. ``session``: what it got lives with the session
    (an advisory lock): cut just after its answer came, it is gone with the session, so that
    raises too."""
    bound.ask()
    with CUTOFF.within(conn, time.monotonic() + waits + bound.within) as watch:
        try:
            yield
        except psycopg.Error as exc:
            if not watch.cut:
                raise
            bound.gave_up = True
            raise NoAnswer("no answer from the database in time: the connection was cut") from exc
    if session and watch.cut:
        bound.gave_up = True
        raise NoAnswer("the connection was cut as its lock was granted: the lock went with it")


@contextmanager
def _no_connection_is_no_answer(bound: Patience | None) -> Iterator[None]:
    """In an API call, the pool's wait for a connection running out is :class:`NoAnswer` (a
    server that froze takes no new connection, and the ones it had are cut), and the call gives
    up; nothing was sent on it."""
    try:
        yield
    except PoolTimeout as exc:
        if bound is None:
            raise
        bound.gave_up = True
        raise NoAnswer("no connection to the database in time") from exc


def _unanswered() -> None:
    """A quick statement of an API call (POST /api/runs records its run so) was cut unanswered:
    the call gives up, as for a statement of a session (:func:`_answered`), so that the calls
    that waited for a thread meanwhile send nothing. One that failed fast (a connection lost, a
    limit the server kept) is not a silence, and does not end the call's patience."""
    bound = patience()
    if bound is not None:
        bound.gave_up = True


def _watched(
    conn: Any, bound: Patience | None, waits: float = 0.0, session: bool = False
) -> AbstractContextManager[None]:
    return nullcontext() if bound is None else _answered(conn, bound, waits, session)


@contextmanager
def _checks_cut_off(at: float) -> Iterator[None]:
    token = _checked_by.set(at)
    try:
        yield
    finally:
        _checked_by.reset(token)


def _one(cursor: Any) -> Row | None:
    return cursor.fetchone() if cursor.description else None


def _all(cursor: Any) -> list[Row]:
    return cursor.fetchall() if cursor.description else []


def _ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"


def postgres_acquire(pool: Any) -> Acquire:
    """Advisory locks, each on a connection of its own taken from ``pool`` for as long as the
    lock is held (session-level: released on unlock, or by the server when the session ends)."""

    def acquire(key: str, wait: float) -> Callable[[], None]:
        bound = patience()  # an API call's: none of its statements waits long unanswered
        if bound is not None:
            bound.ask()
        # The wait for a connection is bounded too: a pool taken by stuck work is "busy".
        timeout = max(wait, 1.0) if bound is None else min(max(wait, 1.0), bound.within)
        checked = nullcontext() if bound is None else _checks_cut_off(time.monotonic() + timeout)
        try:
            with checked:
                conn = pool.getconn(timeout=timeout)
        except Exception as exc:  # psycopg_pool.PoolTimeout
            raise LockBusy(key, wait) from exc
        try:
            _lock(conn, key, wait, bound)
        except BaseException:
            pool.putconn(conn)
            raise

        def release() -> None:
            try:
                with _watched(conn, bound):
                    conn.execute(UNLOCK_SQL, {"key": key})
            except Exception:
                # The lock may still be held by this session: end the session, which frees it.
                conn.close()
            finally:
                pool.putconn(conn)

        return release

    def _lock(conn: Any, key: str, wait: float, bound: Patience | None) -> None:
        # A free key (the usual case) is taken by one statement; only a key someone holds is
        # waited for, under a lock_timeout of its own (two statements more).
        with _watched(conn, bound, session=True):
            row = conn.execute(TRY_SQL, {"key": key}).fetchone()
        if row["got"]:
            return
        if wait <= 0:
            raise LockBusy(key, wait)
        with _watched(conn, bound, wait, session=True):
            conn.execute(SET_LOCK_TIMEOUT, {"value": _ms(wait)})
            try:
                conn.execute(LOCK_SQL, {"key": key})
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
                raise LockBusy(key, wait) from exc
            finally:
                conn.execute(SET_LOCK_TIMEOUT, {"value": _ms(WAIT)})

    return acquire
