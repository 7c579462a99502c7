"""The PostgreSQL backend (bot.store.db.postgres, its pool and its deadlines): one pool whose
sessions carry limits on statements and lock waits, give back what a failed transaction did, and
hand out a connection before an ack only within a short wait."""

from __future__ import annotations

import threading
import time

import psycopg
import pytest

from bot.store.db import OutcomeUnknown, WriteWithdrawn, postgres_deadlines, postgres_pool
from bot.store.db.base import answering
from bot.store.db.postgres import PostgresDatabase
from bot.store.db.postgres_deadlines import QUICK_ANSWER, QUICK_STATEMENT, QUICK_TIMEOUT
from tests.support.bounded import ended_within
from tests.support.pgproxy import CuttingProxy


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
    monkeypatch.setattr(postgres_pool, "RECENT", 0.0)
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


@pytest.fixture
def quick_scratch(pg):
    pg.execute("CREATE TABLE IF NOT EXISTS pg_quick_scratch (k TEXT PRIMARY KEY, at FLOAT8)")
    pg.execute("DELETE FROM pg_quick_scratch")
    yield "pg_quick_scratch"
    pg.execute("DROP TABLE IF EXISTS pg_quick_scratch")


def locked_for_writes(url: str, table: str, most: float = 5.0):
    """Another session holds the lock a non-concurrent CREATE INDEX takes on ``table`` (reads
    go on, writes wait) until the returned event is set, ``most`` seconds at the longest."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(url) as other:
            other.execute(f"LOCK TABLE {table} IN SHARE MODE")
            taken.set()
            release.wait(most)
            other.rollback()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10)
    return release, thread


def test_a_quick_write_waits_on_another_sessions_lock_for_its_own_limit_and_is_undone(
    pg, quick_scratch, shared_postgres
):
    """A statement before an ack waited on a lock for the session's 30 s (Slack gives up at
    3 s, and the click was recorded and carried out once the lock went). It has its own limit
    now, set in the same round trip, and what it failed to do is not done later."""
    release, thread = locked_for_writes(shared_postgres, quick_scratch)
    try:
        sent = time.monotonic()
        with pytest.raises((psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)):
            pg.execute_quick(f"INSERT INTO {quick_scratch} (k) VALUES (%(k)s)", {"k": "click"})
        took = time.monotonic() - sent
    finally:
        release.set()
        thread.join(10)
    assert QUICK_STATEMENT <= took < QUICK_STATEMENT + 1.0, took  # not the session's 30 s
    assert pg.fetch_all(f"SELECT k FROM {quick_scratch}") == []
    # The limits were the statement's only: the session's are as they were.
    assert pg.fetch_one(
        "SELECT current_setting('statement_timeout') AS statement, "
        "current_setting('lock_timeout') AS lock"
    ) == {"statement": "1min", "lock": "30s"}


def test_a_quick_write_late_in_its_request_hears_its_lock_limit_before_it_is_cut_off(
    pg, quick_scratch, shared_postgres
):
    """Reads before it took most of its request's time, and the write waits on another
    session's lock (a server that is up): the server's own limit ends it, with an error that
    says it was not done ("not recorded"), before our cut-off at the request's deadline would
    make it of unknown outcome ("may or may not be recorded") -- the server's limit must leave
    its answer time to come back before the cut."""
    release, thread = locked_for_writes(shared_postgres, quick_scratch)
    try:
        refused = (psycopg.errors.LockNotAvailable, psycopg.errors.QueryCanceled)
        with answering(0.8), pytest.raises(refused):
            pg.execute_quick(
                f"INSERT INTO {quick_scratch} (k) VALUES (%(k)s)", {"k": "click"}, undo="x"
            )
    finally:
        release.set()
        thread.join(10)
    assert pg.fetch_all(f"SELECT k FROM {quick_scratch}") == []


def test_a_quick_write_gives_its_rows_and_count_back_with_its_parameters_as_sent(pg, quick_scratch):
    """Its parameters are bound by psycopg on our side (one simple query with the limits):
    quotes, None and floats arrive as they were."""
    at = 1_800_000_000.123456
    row = pg.fetch_one_quick(
        f"INSERT INTO {quick_scratch} (k, at) VALUES (%(k)s, %(at)s) RETURNING k, at",
        {"k": "it's; DROP", "at": at},
    )
    assert row == {"k": "it's; DROP", "at": at}
    assert pg.fetch_one(f"SELECT k FROM {quick_scratch} WHERE at = %(at)s", {"at": at}) == {
        "k": "it's; DROP"
    }
    count = pg.execute_quick(f"UPDATE {quick_scratch} SET at = %(at)s", {"at": None})
    assert count == 1
    assert pg.fetch_one_quick(f"SELECT count(*) AS n FROM {quick_scratch}") == {"n": 1}


@pytest.fixture
def cut_pg(shared_postgres):
    """The backend through a proxy that cuts a connection once its statement committed."""
    proxy = CuttingProxy()
    db = PostgresDatabase(proxy.url(shared_postgres), max_size=2)
    yield proxy, db
    db.close()
    proxy.close()


def test_a_quick_write_whose_answer_was_lost_is_of_unknown_outcome(cut_pg, pg, quick_scratch):
    proxy, db = cut_pg
    proxy.arm(b"INSERT INTO pg_quick_scratch")
    with pytest.raises(OutcomeUnknown):
        db.execute_quick(f"INSERT INTO {quick_scratch} (k) VALUES (%(k)s)", {"k": "click"})
    assert pg.fetch_all(f"SELECT k FROM {quick_scratch}") == [{"k": "click"}]  # it committed


def test_a_quick_write_whose_answer_was_lost_is_withdrawn_by_its_undo(cut_pg, pg, quick_scratch):
    proxy, db = cut_pg
    undo = (
        f"WITH gone AS (DELETE FROM {quick_scratch} WHERE k = %(k)s RETURNING k) "
        "SELECT EXISTS (SELECT 1 FROM gone) AS withdrawn"
    )
    proxy.arm(b"INSERT INTO pg_quick_scratch")
    sent = time.monotonic()
    with pytest.raises(WriteWithdrawn):
        db.execute_quick(f"INSERT INTO {quick_scratch} (k) VALUES (%(k)s)", {"k": "a"}, undo=undo)
    assert time.monotonic() - sent < QUICK_ANSWER + 0.5
    assert pg.fetch_all(f"SELECT k FROM {quick_scratch}") == []

    # An undo that finds the write taken up already leaves it unknown: it may go ahead.
    proxy.arm(b"INSERT INTO pg_quick_scratch")
    with pytest.raises(OutcomeUnknown):
        db.execute_quick(
            f"INSERT INTO {quick_scratch} (k) VALUES (%(k)s)",
            {"k": "b"},
            undo="SELECT false AS withdrawn",
        )
    assert pg.fetch_all(f"SELECT k FROM {quick_scratch}") == [{"k": "b"}]

    # So does an undo that fails for another reason than the connection.
    proxy.arm(b"INSERT INTO pg_quick_scratch")
    with pytest.raises(OutcomeUnknown):
        db.execute_quick(
            f"INSERT INTO {quick_scratch} (k) VALUES (%(k)s)", {"k": "c"}, undo="SELECT nothing"
        )


def test_a_quick_write_that_cannot_be_withdrawn_in_time_is_of_unknown_outcome(
    cut_pg, quick_scratch
):
    proxy, db = cut_pg
    proxy.arm(b"INSERT INTO pg_quick_scratch", down=True)
    sent = time.monotonic()
    with pytest.raises(OutcomeUnknown):
        db.execute_quick(
            f"INSERT INTO {quick_scratch} (k) VALUES (%(k)s)", {"k": "c"}, undo="SELECT 1"
        )
    assert time.monotonic() - sent < QUICK_ANSWER + 0.5  # within the ack's time


def test_a_connection_the_server_dropped_moments_ago_is_replaced_before_a_write_is_sent_on_it(
    pg, quick_scratch
):
    """A restart (here: its backend terminated) drops a connection just back in the pool: the
    server's goodbye is waiting on it, so the pool replaces it and the write goes through,
    rather than being sent on a dead connection and ending of unknown outcome."""
    (pid,) = pg.fetch_one("SELECT pg_backend_pid() AS pid").values()
    with psycopg.connect(pg.pool.conninfo, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        for _ in range(100):  # the backend is gone once the server no longer lists it
            if not admin.execute(
                "SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)
            ).fetchone():
                break
            time.sleep(0.01)
    pg.execute_quick(f"INSERT INTO {quick_scratch} (k) VALUES ('after-restart')")
    assert pg.fetch_one(f"SELECT k FROM {quick_scratch}") == {"k": "after-restart"}


def test_connections_give_up_on_a_server_gone_from_the_network_in_seconds(postgres_url):
    """Keepalives and TCP_USER_TIMEOUT on every pooled connection (a statement to a host that
    stopped answering ends in seconds, not after ~15 minutes of retransmissions); what the
    DATABASE_URL sets itself wins."""
    db = PostgresDatabase(postgres_url)
    try:
        with db.pool.connection() as conn:
            dsn = conn.info.dsn
        assert "tcp_user_timeout=10000" in dsn and "keepalives_idle=10" in dsn
    finally:
        db.close()
    own = PostgresDatabase(postgres_url + "?tcp_user_timeout=2500")
    try:
        with own.pool.connection() as conn:
            assert "tcp_user_timeout=2500" in conn.info.dsn
    finally:
        own.close()


def test_a_quick_write_to_a_frozen_server_ends_in_time_of_unknown_outcome_and_lands_once_woken(
    cut_pg, pg, quick_scratch
):
    """A server that froze (stopped, or behind a path that swallows packets) keeps none of the
    limits the statement set, and answers nothing: the write waited for the kernel to give up
    (tcp_user_timeout, 10 s; never, when the server's kernel took the bytes), its connection
    and pool slot held all along. It is cut off on our side now, within the ack's time (its
    connection, broken, given back and let go), and said to be of unknown outcome: the server,
    woken, runs it."""
    proxy, db = cut_pg
    proxy.freeze(at=b"INSERT INTO pg_quick_scratch")
    insert = f"INSERT INTO {quick_scratch} (k) VALUES (%(k)s)"
    try:
        _, raised = ended_within(
            QUICK_ANSWER + 0.5, lambda: db.execute_quick(insert, {"k": "frozen"}, undo="SELECT 1")
        )
    finally:
        proxy.thaw()  # the server wakes and runs what it was sent: the write lands
    assert isinstance(raised, OutcomeUnknown), raised
    for _ in range(500):
        if pg.fetch_all(f"SELECT k FROM {quick_scratch}"):
            break
        time.sleep(0.01)
    assert pg.fetch_all(f"SELECT k FROM {quick_scratch}") == [{"k": "frozen"}]
    assert db.execute_quick(f"UPDATE {quick_scratch} SET at = 1") == 1  # the pool works again


def test_a_quick_write_whose_connection_check_froze_was_never_sent(
    cut_pg, pg, quick_scratch, monkeypatch
):
    """The pool checks a connection not just returned before it hands it out (a round trip):
    frozen there, the check is cut off too, and the write, never sent, fails as a write not
    taken does (its caller may say "not recorded"), and stays undone once the server wakes."""
    proxy, db = cut_pg
    monkeypatch.setattr(postgres_pool, "RECENT", 0.0)  # every connection checked when handed out
    proxy.freeze()
    insert = f"INSERT INTO {quick_scratch} (k) VALUES (%(k)s)"
    try:
        _, raised = ended_within(
            QUICK_ANSWER + 0.5, lambda: db.execute_quick(insert, {"k": "never"})
        )
    finally:
        proxy.thaw()
    assert isinstance(raised, psycopg.OperationalError), raised  # the pool's timeout
    assert b"pg_quick_scratch" not in proxy.held
    assert db.execute_quick(f"UPDATE {quick_scratch} SET at = 1") == 0  # the pool works again
    assert pg.fetch_all(f"SELECT k FROM {quick_scratch}") == []


def test_an_api_call_s_lock_whose_connection_was_cut_as_it_was_granted_is_not_held(pg, monkeypatch):
    """In an API call, the cutoff can shut a lock's connection just after the server granted
    it (its deadline and the answer a hair apart): the server drops the lock with the session,
    so the call must not go on as if it held it."""
    from contextlib import contextmanager

    from bot.store.db.base import NoAnswer, patient
    from bot.store.db.cutoff import Watch

    @contextmanager
    def cut_as_answered(conn, at):
        watch = Watch(conn.fileno())
        yield watch
        watch.done = watch.cut = True  # the cutoff won the race after the answer came

    monkeypatch.setattr(postgres_deadlines.CUTOFF, "within", cut_as_answered)
    with patient(), pytest.raises(NoAnswer), pg.key_lock("api:race"):
        pytest.fail("went on as if it held the lock")
