"""The SQLite backend (bot.store.db.sqlite): ``%(name)s`` placeholders and row-lock clauses
rewritten for SQLite, WAL mode, a directory made for its file, and a transaction that takes
the write lock at its start."""

from __future__ import annotations

import sqlite3

import pytest

from bot.store.db.sqlite import SqliteDatabase, _translate


@pytest.fixture
def sqlite(sqlite_dir):
    db = SqliteDatabase(str(sqlite_dir / "nested" / "bot.db"))
    db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER)")
    yield db
    db.close()


def test_placeholders_and_row_locks_are_rewritten():
    sql = "SELECT * FROM jobs WHERE due_at <= %(now)s LIMIT %(limit)s FOR UPDATE SKIP LOCKED"
    assert _translate(sql) == "SELECT * FROM jobs WHERE due_at <= :now LIMIT :limit"


def test_the_file_is_made_in_a_new_directory_in_wal_mode(sqlite, sqlite_dir):
    path = sqlite_dir / "nested" / "bot.db"
    assert path.exists()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_named_parameters_reach_sqlite(sqlite):
    sqlite.execute("INSERT INTO t (k, v) VALUES (%(k)s, %(v)s)", {"k": "a", "v": 1})
    row = sqlite.fetch_one("SELECT v FROM t WHERE k = %(k)s FOR UPDATE SKIP LOCKED", {"k": "a"})
    assert row == {"v": 1}


def test_a_transaction_holds_the_write_lock_from_its_start(sqlite, sqlite_dir):
    """BEGIN IMMEDIATE: even before it writes, a transaction keeps other writers out, so a
    read-then-write (a claim) cannot interleave with another."""
    other = sqlite3.connect(sqlite_dir / "nested" / "bot.db", timeout=0, isolation_level=None)
    try:
        with sqlite.transaction() as tx:
            assert tx.fetch_one("SELECT COUNT(*) AS n FROM t") == {"n": 0}  # only a read
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free once it ended
        other.execute("ROLLBACK")
    finally:
        other.close()


def test_the_checkpointer_is_made_once_and_closed(sqlite):
    saver = sqlite.checkpointer()
    assert sqlite.checkpointer() is saver
    sqlite.close()
    assert sqlite.checkpointer() is not saver
