"""SQLite backend: a file under ./data by default, WAL mode, one connection per call; the writes
before an ack are committed in groups (:mod:`bot.store.db.group_commit`)."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from bot.store.db.base import Params, Row, iter_rows
from bot.store.db.group_commit import GroupCommit
from bot.store.db.locks import WAIT, Locks, memory_acquire

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def _translate(sql: str) -> str:
    sql = _PLACEHOLDER.sub(r":\1", sql)
    # Row locks do not exist in SQLite; the database-wide write lock already serialises claims.
    return sql.replace(" FOR UPDATE SKIP LOCKED", "")


class _Session:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        rows = self.fetch_all(sql, params)
        return rows[0] if rows else None

    def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        cursor = self.conn.execute(_translate(sql), dict(params or {}))
        return list(iter_rows(cursor)) if cursor.description else []

    def execute(self, sql: str, params: Params = None) -> int:
        return self.conn.execute(_translate(sql), dict(params or {})).rowcount


class SqliteDatabase:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # One lock per key in use (not stripes shared by unrelated keys): a caller holding one
        # key's lock may take another key's without ever waiting on a third party's key.
        self._locks = Locks(memory_acquire())
        self._saver: Any = None
        with self._connect() as conn:
            conn.execute("PRAGMA journal_mode=WAL")
        self._group = GroupCommit(self._writer)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    def _writer(self) -> sqlite3.Connection:
        # The group writer's own connection, used by its thread only, for as long as it runs.
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.execute("PRAGMA busy_timeout=30000")
        return conn

    @contextmanager
    def _session(self) -> Iterator[_Session]:
        conn = self._connect()
        try:
            yield _Session(conn)
        finally:
            conn.close()

    def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        with self._session() as s:
            return s.fetch_one(sql, params)

    def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        with self._session() as s:
            return s.fetch_all(sql, params)

    def execute_quick(self, sql: str, params: Params = None) -> int:
        # A write before an ack: committed with the others that came meanwhile, one sync for
        # the lot (bot.store.db.group_commit); it returns once its own row is on disk.
        return self._group.write(_translate(sql), params, fetch=False).count

    def fetch_one_quick(self, sql: str, params: Params = None) -> Row | None:
        if sql.lstrip().upper().startswith("SELECT"):  # a read waits for no writer
            return self.fetch_one(sql, params)
        rows = self._group.write(_translate(sql), params, fetch=True).rows
        return rows[0] if rows else None

    def execute(self, sql: str, params: Params = None) -> int:
        with self._session() as s:
            return s.execute(sql, params)

    @contextmanager
    def transaction(self) -> Iterator[_Session]:
        with self._session() as s:
            s.conn.execute("BEGIN IMMEDIATE")
            try:
                yield s
            except BaseException:
                s.conn.execute("ROLLBACK")
                raise
            s.conn.execute("COMMIT")

    def key_lock(self, key: str, wait: float = WAIT) -> AbstractContextManager[None]:
        # The embedded database serves one bot process, so an in-process lock suffices.
        return self._locks.hold(key, wait)

    def try_lock(self, key: str) -> AbstractContextManager[None]:
        return self._locks.hold(key, 0)

    def checkpointer(self) -> Any:
        if self._saver is None:
            from langgraph.checkpoint.sqlite import SqliteSaver

            conn = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=30000")
            self._saver = SqliteSaver(conn)
            self._saver.setup()
        return self._saver

    def close(self) -> None:
        self._group.close()
        if self._saver is not None:
            self._saver.conn.close()
            self._saver = None
