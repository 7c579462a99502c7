"""PostgreSQL backend: one psycopg pool shared by our tables and LangGraph's PostgresSaver."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool

from bot.db.base import Params, Row

LOCK_SQL = "SELECT pg_advisory_lock(hashtextextended(%(key)s, 0))"
QUICK_TIMEOUT = 1.5  # seconds to wait for a connection before an ack: far inside Slack's 3 s
UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended(%(key)s, 0))"


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
        # the bot usable behind PgBouncer. check_connection lets the pool survive a restart.
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=max_size,
            kwargs={"autocommit": True, "row_factory": dict_row, "prepare_threshold": None},
            check=ConnectionPool.check_connection,
            open=True,
        )
        self._saver: Any = None

    def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        with self.pool.connection() as conn:
            return _Session(conn).fetch_one(sql, params)

    def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        with self.pool.connection() as conn:
            return _Session(conn).fetch_all(sql, params)

    def execute(self, sql: str, params: Params = None) -> int:
        with self.pool.connection() as conn:
            return _Session(conn).execute(sql, params)

    def execute_quick(self, sql: str, params: Params = None) -> int:
        with self.pool.connection(timeout=QUICK_TIMEOUT) as conn:
            return _Session(conn).execute(sql, params)

    def fetch_one_quick(self, sql: str, params: Params = None) -> Row | None:
        with self.pool.connection(timeout=QUICK_TIMEOUT) as conn:
            return _Session(conn).fetch_one(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        with self.pool.connection() as conn, conn.transaction():
            yield _Session(conn)

    @contextmanager
    def key_lock(self, key: str) -> Iterator[None]:
        # A session-level advisory lock: released on unlock, or by the server if we die.
        with self.pool.connection() as conn:
            conn.execute(LOCK_SQL, {"key": key})
            try:
                yield
            finally:
                conn.execute(UNLOCK_SQL, {"key": key})

    def checkpointer(self) -> Any:
        if self._saver is None:
            from langgraph.checkpoint.postgres import PostgresSaver

            self._saver = PostgresSaver(self.pool)
            self._saver.setup()
        return self._saver

    def close(self) -> None:
        self.pool.close()
