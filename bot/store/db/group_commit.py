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
:class:`TimeoutError` when nothing was committed within ``wait`` seconds.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.store.db.base import Params, Row, iter_rows

logger = logging.getLogger(__name__)

BATCH = 128  # writes in one transaction at most


@dataclass
class _Write:
    sql: str
    params: dict[str, Any]
    fetch: bool  # rows back (an INSERT ... RETURNING), else the row count
    done: threading.Event = field(default_factory=threading.Event)
    rows: list[Row] | None = None
    count: int = 0
    error: BaseException | None = None


class GroupCommit:
    def __init__(self, connect: Callable[[], sqlite3.Connection], wait: float = 30.0) -> None:
        self._connect = connect
        self.wait = wait
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._guard = threading.Lock()
        self._thread: threading.Thread | None = None

    def write(self, sql: str, params: Params, fetch: bool) -> _Write:
        """Run one write in the next group; returns once it is committed (or raises)."""
        item = _Write(sql, dict(params or {}), fetch)
        self._start()
        self._queue.put(item)
        if not item.done.wait(self.wait):
            raise TimeoutError(f"the database took no write within {self.wait:g} s")
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
