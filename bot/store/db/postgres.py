"""PostgreSQL backend: one psycopg pool shared by our tables and LangGraph's PostgresSaver.

The pool and its connections are :mod:`bot.store.db.postgres_pool`; statements that must be
answered in time (before an ack, in an API call) are :mod:`bot.store.db.postgres_deadlines`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

import psycopg
from psycopg.rows import dict_row

from bot.store.db.base import Params, Patience, Row, patience
from bot.store.db.locks import (
    LOCK_SQL,
    SET_LOCK_TIMEOUT,
    TRY_SQL,
    UNLOCK_SQL,
    WAIT,
    Acquire,
    LockBusy,
    Locks,
)
from bot.store.db.postgres_deadlines import (
    answered,
    ms,
    no_connection_is_no_answer,
    one,
    quick,
    watched,
)
from bot.store.db.postgres_pool import (
    Liveness,
    Pool,
    checks_cut_off,
    configure,
    dead_peer_limits,
)


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


class PostgresDatabase:
    dialect = "postgres"

    def __init__(self, url: str, max_size: int = 20) -> None:
        # autocommit + dict_row are what PostgresSaver requires; prepare_threshold=None keeps
        # the bot usable behind PgBouncer. The liveness check lets the pool survive a restart.
        self.pool = Pool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={
                "autocommit": True,
                "row_factory": dict_row,
                "prepare_threshold": None,
                **dead_peer_limits(url),
            },
            configure=configure,
            liveness=Liveness(),
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
            no_connection_is_no_answer(bound),
            checks_cut_off(time.monotonic() + bound.within),
            self.pool.connection(timeout=bound.within) as conn,
            answered(conn, bound),
        ):
            yield conn

    def execute_quick(self, sql: str, params: Params = None, undo: str | None = None) -> int:
        return quick(self.pool, sql, params, undo, lambda cursor: int(cursor.rowcount))

    def fetch_one_quick(
        self, sql: str, params: Params = None, undo: str | None = None
    ) -> Row | None:
        return quick(self.pool, sql, params, undo, one)

    def fetch_all_quick(self, sql: str, params: Params = None) -> list[Row]:
        return quick(self.pool, sql, params, None, _all)

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


def _all(cursor: Any) -> list[Row]:
    return cursor.fetchall() if cursor.description else []


def postgres_acquire(pool: Any) -> Acquire:
    """Advisory locks, each on a connection of its own taken from ``pool`` for as long as the
    lock is held (session-level: released on unlock, or by the server when the session ends)."""

    def acquire(key: str, wait: float) -> Callable[[], None]:
        bound = patience()  # an API call's: none of its statements waits long unanswered
        if bound is not None:
            bound.ask()
        # The wait for a connection is bounded too: a pool taken by stuck work is "busy".
        timeout = max(wait, 1.0) if bound is None else min(max(wait, 1.0), bound.within)
        checked = nullcontext() if bound is None else checks_cut_off(time.monotonic() + timeout)
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
                with watched(conn, bound):
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
        with watched(conn, bound, session=True):
            row = conn.execute(TRY_SQL, {"key": key}).fetchone()
        if row["got"]:
            return
        if wait <= 0:
            raise LockBusy(key, wait)
        with watched(conn, bound, wait, session=True):
            conn.execute(SET_LOCK_TIMEOUT, {"value": ms(wait)})
            try:
                conn.execute(LOCK_SQL, {"key": key})
            except (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled) as exc:
                raise LockBusy(key, wait) from exc
            finally:
                conn.execute(SET_LOCK_TIMEOUT, {"value": ms(WAIT)})

    return acquire
