"""The PostgreSQL backend (bot.store.db.postgres): one pool whose sessions carry limits on
statements and lock waits, give back what a failed transaction did, and hand out a connection
before an ack only within a short wait."""

from __future__ import annotations

import threading

import psycopg
import pytest

from bot.store.db.postgres import QUICK_TIMEOUT, PostgresDatabase


@pytest.fixture
def pg(shared_postgres):
    db = PostgresDatabase(shared_postgres, max_size=2)
    yield db
    db.close()


def test_sessions_have_limits_and_no_jit(pg):
    row = pg.fetch_one(
        "SELECT current_setting('statement_timeout') AS statement, "
        "current_setting('lock_timeout') AS lock, current_setting('jit') AS jit"
    )
    assert row == {"statement": "1min", "lock": "30s", "jit": "off"}


def test_connections_are_autocommit_outside_a_transaction(pg, shared_postgres):
    pg.execute("CREATE TABLE IF NOT EXISTS pg_scratch (k TEXT PRIMARY KEY)")
    pg.execute("DELETE FROM pg_scratch")
    pg.execute("INSERT INTO pg_scratch (k) VALUES ('a')")
    with psycopg.connect(shared_postgres) as other:  # another session sees it at once
        assert other.execute("SELECT k FROM pg_scratch").fetchall() == [("a",)]


def test_a_quick_call_does_not_queue_for_a_saturated_pool(pg):
    from psycopg_pool import PoolTimeout

    taken = [pg.pool.getconn(), pg.pool.getconn()]  # max_size=2: all of them
    try:
        with pytest.raises(PoolTimeout):
            pg.fetch_one_quick("SELECT 1 AS one")
    finally:
        for conn in taken:
            pg.pool.putconn(conn)
    assert QUICK_TIMEOUT < 3  # inside Slack's ack deadline
    assert pg.fetch_one_quick("SELECT 1 AS one") == {"one": 1}


def test_a_lock_wait_is_bounded_for_that_wait_only(pg):
    done, taken = threading.Event(), threading.Event()

    def hold() -> None:
        with pg.key_lock("run-a"):
            taken.set()
            done.wait(10)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10)
    try:
        from bot.store.db.locks import LockBusy

        with pytest.raises(LockBusy), pg.key_lock("run-a", wait=0.1):
            pass
    finally:
        done.set()
        thread.join(10)
    assert pg.fetch_one("SELECT current_setting('lock_timeout') AS v") == {"v": "30s"}


def test_a_connection_comes_back_in_the_returning_thread_and_skips_its_check(pg, monkeypatch):
    """Returned inline (no hop to the pool's maintenance thread), and handed out again within
    RECENT without a liveness round trip; one idle longer is checked first. (A connection fresh
    from the pool, never returned, is always checked: the pool may open one at any time.)"""
    from psycopg_pool import ConnectionPool

    from bot.store.db import postgres

    returned: set[int] = set()  # connections that have been back in the pool
    rechecked: list[int] = []  # checks of a connection that had been back
    real_check = ConnectionPool.check_connection

    def checking(conn):
        if id(conn) in returned:
            rechecked.append(id(conn))
        real_check(conn)

    monkeypatch.setattr(ConnectionPool, "check_connection", staticmethod(checking))
    returned_on: list[str] = []
    real_return = ConnectionPool._return_connection

    def noting(self, conn, from_getconn):
        returned_on.append(threading.current_thread().name)
        returned.add(id(conn))
        return real_return(self, conn, from_getconn)

    monkeypatch.setattr(ConnectionPool, "_return_connection", noting)
    for _ in range(8):
        assert pg.fetch_one("SELECT 1 AS one") == {"one": 1}
    assert returned_on == [threading.current_thread().name] * 8
    assert rechecked == []  # each was back for well under RECENT
    monkeypatch.setattr(postgres, "RECENT", 0.0)
    pg.fetch_one("SELECT 1 AS one")
    assert len(rechecked) == 1


def test_the_connection_returned_last_is_handed_out_first(pg):
    """With two connections idle, statements one after another run on one server process (the
    one just returned, within RECENT of its return, so unchecked), not on each in turn: a quiet
    bot's statements each paid a liveness round trip when the idle connections took turns."""
    both = threading.Barrier(2)

    def hold_one() -> None:
        with pg.pool.connection():
            both.wait(5)

    holders = [threading.Thread(target=hold_one) for _ in range(2)]
    for holder in holders:
        holder.start()
    for holder in holders:
        holder.join(5)
    assert pg.pool.get_stats()["pool_available"] == 2
    pids = {pg.fetch_one("SELECT pg_backend_pid() AS pid")["pid"] for _ in range(6)}
    assert len(pids) == 1
