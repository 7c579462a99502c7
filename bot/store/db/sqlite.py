"""SQLite backend: a file under ./data by default, WAL mode, one connection per call; the writes
before an ack are committed in groups (:class:`GroupCommit`)."""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.store.db.base import ACK_WINDOW, Params, Row, iter_rows, quick_budget
from bot.store.db.locks import WAIT, Locks, memory_acquire

logger = logging.getLogger(__name__)

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

    def execute_quick(self, sql: str, params: Params = None, undo: str | None = None) -> int:
        # A write before an ack: committed with the others that came meanwhile, one sync for
        # the lot (GroupCommit, below); it returns once its own row is on disk. Its outcome is
        # always known (a write the writer did not take is withdrawn there), so ``undo`` is
        # never needed.
        return self._group.write(_translate(sql), params, fetch=False).count

    def fetch_one_quick(
        self, sql: str, params: Params = None, undo: str | None = None
    ) -> Row | None:
        if sql.lstrip().upper().startswith("SELECT"):  # a read waits for no writer
            return self.fetch_one(sql, params)
        rows = self._group.write(_translate(sql), params, fetch=True).rows
        return rows[0] if rows else None

    def fetch_all_quick(self, sql: str, params: Params = None) -> list[Row]:
        if sql.lstrip().upper().startswith("SELECT"):  # a read waits for no writer
            return self.fetch_all(sql, params)
        return self._group.write(_translate(sql), params, fetch=True).rows or []

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


BATCH = 128  # writes in one transaction at most
# Seconds a write before an ack waits to be taken into a transaction. Another connection's
# write transaction (a second process on the file, a prune) holds SQLite's one write lock; past
# this the write is withdrawn (it will not be applied later) and its caller raises, so Slack
# hears "not recorded, nothing changed" well inside its 3 s, and that stays true.
QUICK_WRITE = 1.5
# The expiry waits out the writes before an ack (bot.store.db.base): they must end before it
# (one taken into a transaction is waited for to its commit, which holds the lock already).
assert QUICK_WRITE + 0.5 <= ACK_WINDOW, "an expiry could miss a click still being recorded"


@dataclass
class _Write:
    sql: str
    params: dict[str, Any]
    fetch: bool  # rows back (an INSERT ... RETURNING), else the row count
    done: threading.Event = field(default_factory=threading.Event)
    rows: list[Row] | None = None
    count: int = 0
    error: BaseException | None = None
    # queued, then "taken" by the writer (inside its transaction: the commit decides it) or
    # "withdrawn" by its caller, who stopped waiting (the writer skips it); under the group's lock
    state: str = "queued"


class GroupCommit:
    """SQLite's writes before an ack, committed together.

    SQLite has one writer at a time and, with ``synchronous=FULL`` (its default, kept: an
    acknowledged click must survive a power cut), syncs the log to disk at every commit. A burst of
    fifty clicks was fifty transactions and fifty syncs in a row, each ack waiting for every one
    before it. Here the writes that come before an ack (a new run, a click or submission recorded in
    the inbox) are handed to one writer thread, which commits whatever has queued up meanwhile in
    one transaction: one sync for the lot. Each caller still returns only once the transaction
    holding its row is committed, so what is acknowledged is exactly as durable as before; a write
    that fails is rolled back on its own (a savepoint each), the others still commit.

    Errors: the caller gets its own statement's ``sqlite3.Error``, or the commit's, or
    :class:`TimeoutError` when the writer had not taken the write into a transaction within
    ``wait`` seconds (another connection held the write lock): the write is then withdrawn,
    never applied, so a caller that says "not recorded" is right. A write the writer took is
    waited for to the end of its transaction, which holds the lock already and is short.
    """

    def __init__(
        self, connect: Callable[[], sqlite3.Connection], wait: float = QUICK_WRITE
    ) -> None:
        self._connect = connect
        self.wait = wait
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._guard = threading.Lock()
        self._states = threading.Lock()
        self._thread: threading.Thread | None = None

    def write(self, sql: str, params: Params, fetch: bool) -> _Write:
        """Run one write in the next group; returns once it is committed (or raises)."""
        item = _Write(sql, dict(params or {}), fetch)
        # Its own wait, or what is left of its request's time (one queued behind a burst may
        # have little): its caller still answers Slack in time.
        wait = quick_budget(time.monotonic(), self.wait)
        self._start()
        self._queue.put(item)
        if not item.done.wait(wait):
            with self._states:
                if item.state == "queued":
                    item.state = "withdrawn"
                    raise TimeoutError(f"the database took no write within {wait:.2g} s")
            item.done.wait()  # taken meanwhile: its transaction is under way, and decides it
        if item.error is not None:
            raise item.error
        return item

    def close(self) -> None:
        with self._guard:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(5)

    def _start(self) -> None:
        if self._thread is not None:
            return
        with self._guard:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sqlite-group-commit", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        conn = self._connect()
        try:
            while True:
                first = self._queue.get()
                if first is None:
                    return
                batch = [first]
                while len(batch) < BATCH:
                    try:
                        more = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if more is None:
                        self._queue.put(None)  # stop after this group
                        break
                    batch.append(more)
                self._commit(conn, batch)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Write]) -> None:
        try:
            conn.execute("BEGIN IMMEDIATE")
            for item in batch:
                with self._states:
                    if item.state == "withdrawn":  # its caller gave up and said so
                        continue
                    item.state = "taken"
                conn.execute("SAVEPOINT one")
                try:
                    cursor = conn.execute(item.sql, item.params)
                    if item.fetch:
                        item.rows = list(iter_rows(cursor)) if cursor.description else []
                    item.count = cursor.rowcount
                    conn.execute("RELEASE one")
                except sqlite3.Error as exc:
                    conn.execute("ROLLBACK TO one")
                    conn.execute("RELEASE one")
                    item.error = exc
            conn.execute("COMMIT")
        except BaseException as exc:
            logger.exception("a group of %d writes was not committed", len(batch))
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            for item in batch:
                item.error = item.error or exc
        finally:
            for item in batch:
                item.done.set()
