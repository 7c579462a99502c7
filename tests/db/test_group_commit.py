"""SQLite's writes before an ack, committed in groups (bot/store/db/sqlite.py): every write
of a burst is on disk when its caller returns, many share one commit, and one that fails takes
no other down."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.store.db.base import ANSWER_WITHIN, answering
from bot.store.db.sqlite import SqliteDatabase


@contextmanager
def write_lock_held(path: Path) -> Iterator[None]:
    """Another connection holds SQLite's one write lock on ``path`` meanwhile."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        other = sqlite3.connect(path, isolation_level=None)
        try:
            other.execute("BEGIN IMMEDIATE")
            taken.set()
            release.wait(10)
            other.execute("ROLLBACK")
        finally:
            other.close()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteDatabase]:
    opened = SqliteDatabase(str(tmp_path / "bot.db"))
    opened.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)")
    yield opened
    opened.close()


def test_a_burst_of_writes_is_each_committed_when_its_caller_returns(db, tmp_path):
    commits = []
    seen: list[int] = []
    returned = threading.Barrier(41)

    def one(i: int) -> None:
        db.execute_quick("INSERT INTO t (id, v) VALUES (%(id)s, %(v)s)", {"id": i, "v": "x"})
        # Another connection sees it at once: committed, not merely queued.
        other = sqlite3.connect(tmp_path / "bot.db")
        try:
            row = other.execute("SELECT id FROM t WHERE id = ?", (i,)).fetchone()
        finally:
            other.close()
        seen.append(row[0])
        returned.wait()

    group = db._group
    commit = group._commit

    def counted(conn, batch):
        commits.append(len(batch))
        commit(conn, batch)

    group._commit = counted  # type: ignore[method-assign]
    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for thread in threads:
        thread.start()
    returned.wait(timeout=30)
    for thread in threads:
        thread.join()
    assert sorted(seen) == list(range(40))
    assert sum(commits) == 40
    assert len(commits) < 40, commits  # some writes shared a commit (a sync to disk)


def test_a_write_that_fails_fails_alone(db):
    db.execute_quick("INSERT INTO t (id, v) VALUES (1, 'a')")
    errors: list[BaseException] = []
    start = threading.Barrier(3)

    def write(sql: str) -> None:
        start.wait()
        try:
            db.execute_quick(sql)
        except sqlite3.Error as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=("INSERT INTO t (id, v) VALUES (1, 'dup')",)),
        threading.Thread(target=write, args=("INSERT INTO t (id, v) VALUES (2, 'b')",)),
    ]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()
    assert len(errors) == 1 and isinstance(errors[0], sqlite3.IntegrityError)
    assert db.fetch_all("SELECT id, v FROM t ORDER BY id") == [
        {"id": 1, "v": "a"},
        {"id": 2, "v": "b"},
    ]


def test_an_insert_returning_gives_its_row_back(db):
    row = db.fetch_one_quick("INSERT INTO t (id, v) VALUES (7, 'r') RETURNING *")
    assert row == {"id": 7, "v": "r"}
    assert db.fetch_one_quick("SELECT v FROM t WHERE id = 7") == {"v": "r"}


def test_a_write_not_taken_in_time_is_withdrawn_and_never_applied(db, tmp_path):
    """Another connection holds SQLite's write lock: a write before an ack gives up after its
    wait (its caller tells the person it was not recorded), and it stays not recorded: the
    writer, when it gets the lock, skips it instead of committing it after all."""
    db._group.wait = 0.3
    with write_lock_held(tmp_path / "bot.db"), pytest.raises(TimeoutError):
        db.execute_quick("INSERT INTO t (id, v) VALUES (1, 'given up')")
    # Queued after it, so committed after the writer dealt with it.
    db.execute_quick("INSERT INTO t (id, v) VALUES (2, 'later')")
    assert db.fetch_all("SELECT id, v FROM t ORDER BY id") == [{"id": 2, "v": "later"}]


def test_a_write_for_a_request_that_waited_gives_up_by_the_request_s_deadline(db, tmp_path):
    """The write lock held elsewhere, a write before an ack whose request already waited 2.2 s
    (queued behind a burst) has what is left of the request's time, not its own 1.5 s again:
    its caller still answers Slack inside 3 s."""
    arrived = time.monotonic() - 2.2
    with write_lock_held(tmp_path / "bot.db"):
        with answering(since=arrived), pytest.raises(TimeoutError):
            db.execute_quick("INSERT INTO t (id, v) VALUES (1, 'late')")
        took = time.monotonic() - arrived
    assert took < ANSWER_WITHIN + 0.2, f"the write gave up {took:.2f}s after its request came"
    assert db.fetch_all("SELECT id FROM t") == []
