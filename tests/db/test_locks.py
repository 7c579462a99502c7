"""Per-key locks with a limit on every wait (SQLite and PostgreSQL): a key held elsewhere is
"busy" after the wait, at once for a try; one thread may take a key it holds again; PostgreSQL
sessions carry statement and lock timeouts; a lock whose session died is not left behind."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from bot.store.db import Database, LockBusy, open_database
from tests.support.held import held_in_thread


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    opened = open_database(database_url)
    yield opened
    opened.close()


def test_a_wait_for_a_busy_key_ends_in_lock_busy_after_its_limit(db):
    done, thread = held_in_thread(lambda: db.key_lock("run-a"))
    try:
        started = time.monotonic()
        with pytest.raises(LockBusy), db.key_lock("run-a", wait=0.5):
            pytest.fail("the key is held by another thread")
        assert 0.4 <= time.monotonic() - started < 5
        with db.key_lock("run-b", wait=0.5):  # other keys are free meanwhile
            pass
    finally:
        done.set()
        thread.join(10)
    with db.key_lock("run-a", wait=1):  # given back: free again
        pass


def test_a_try_of_a_busy_key_fails_at_once_and_a_free_one_is_taken(db):
    done, thread = held_in_thread(lambda: db.key_lock("run-a"))
    try:
        started = time.monotonic()
        with pytest.raises(LockBusy), db.try_lock("run-a"):
            pytest.fail("the key is held by another thread")
        assert time.monotonic() - started < 1
        with db.try_lock("run-c"):
            pass
    finally:
        done.set()
        thread.join(10)


def test_the_holder_takes_its_key_again_without_waiting_on_itself(db):
    with db.key_lock("run-a"), db.try_lock("run-a"), db.key_lock("run-a", wait=0.2):
        pass
    # and it was given back once, not kept
    done, thread = held_in_thread(lambda: db.key_lock("run-a"))
    done.set()
    thread.join(10)


def test_postgres_sessions_have_statement_and_lock_timeouts(postgres_url):
    db = open_database(postgres_url)
    try:
        row = db.fetch_one(
            "SELECT current_setting('statement_timeout') AS statement, "
            "current_setting('lock_timeout') AS lock"
        )
        assert row == {"statement": "1min", "lock": "30s"}
        done, thread = held_in_thread(lambda: db.key_lock("run-a"))
        with pytest.raises(LockBusy), db.key_lock("run-a", wait=0.2):
            pass
        done.set()
        thread.join(10)
        # The short wait was for that lock only: the sessions keep their default.
        for _ in range(3):
            assert db.fetch_one("SELECT current_setting('lock_timeout') AS v") == {"v": "30s"}
    finally:
        db.close()


def test_a_lock_whose_session_was_ended_is_not_left_behind(postgres_url):
    db = open_database(postgres_url)
    try:
        with db.key_lock("run-a"), psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                "AND database = (SELECT oid FROM pg_database WHERE datname = "
                "current_database())"
            )
        # Unlocking failed (the session is gone); the key is free, and the pool still works.
        with db.key_lock("run-a", wait=1):
            assert db.fetch_one("SELECT 1 AS one") == {"one": 1}
    finally:
        db.close()
