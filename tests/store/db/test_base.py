"""The interface both backends implement (bot.store.db.base.Database), held to on SQLite and
PostgreSQL alike: rows as dicts, row counts, ``RETURNING``, and transactions that commit
together or not at all."""

from __future__ import annotations

import pytest

from bot.store.db import postgres_deadlines, sqlite
from bot.store.db.base import ACK_WINDOW

SCRATCH = "CREATE TABLE IF NOT EXISTS scratch (k TEXT PRIMARY KEY, v INTEGER NOT NULL)"
INSERT = "INSERT INTO scratch (k, v) VALUES (%(k)s, %(v)s)"


@pytest.fixture
def scratch(db):
    db.execute(SCRATCH)
    db.execute("DELETE FROM scratch")
    return db


def _rows(db) -> list[dict]:
    return db.fetch_all("SELECT k, v FROM scratch ORDER BY k")


def test_rows_come_back_as_dicts_and_counts_as_ints(scratch):
    assert scratch.execute(INSERT, {"k": "a", "v": 1}) == 1
    assert scratch.execute(INSERT, {"k": "b", "v": 2}) == 1
    assert scratch.fetch_one("SELECT k, v FROM scratch WHERE k = %(k)s", {"k": "b"}) == {
        "k": "b",
        "v": 2,
    }
    assert scratch.fetch_one("SELECT k FROM scratch WHERE k = %(k)s", {"k": "zz"}) is None
    assert _rows(scratch) == [{"k": "a", "v": 1}, {"k": "b", "v": 2}]
    assert scratch.execute("UPDATE scratch SET v = v + 10") == 2
    assert scratch.execute("UPDATE scratch SET v = 0 WHERE k = 'none'") == 0
    assert scratch.fetch_all("UPDATE scratch SET v = 5 WHERE k = 'none'") == []


def test_a_conditional_update_returning_is_won_once(scratch):
    scratch.execute(INSERT, {"k": "a", "v": 0})
    claim = "UPDATE scratch SET v = 1 WHERE k = %(k)s AND v = 0 RETURNING k, v"
    assert scratch.fetch_one(claim, {"k": "a"}) == {"k": "a", "v": 1}
    assert scratch.fetch_one(claim, {"k": "a"}) is None


def test_the_quick_calls_read_and_write_like_the_others(scratch):
    assert scratch.execute_quick(INSERT, {"k": "q", "v": 7}) == 1
    assert scratch.fetch_one_quick("SELECT v FROM scratch WHERE k = 'q'") == {"v": 7}


def test_a_transaction_commits_its_statements_together(scratch):
    with scratch.transaction() as tx:
        tx.execute(INSERT, {"k": "a", "v": 1})
        tx.execute(INSERT, {"k": "b", "v": 2})
        assert tx.fetch_one("SELECT COUNT(*) AS n FROM scratch") == {"n": 2}  # its own writes
        assert len(tx.fetch_all("SELECT k FROM scratch")) == 2
    assert [r["k"] for r in _rows(scratch)] == ["a", "b"]


def test_a_transaction_that_raises_is_rolled_back_and_the_error_goes_on(scratch):
    scratch.execute(INSERT, {"k": "kept", "v": 0})

    with pytest.raises(RuntimeError, match="half way"), scratch.transaction() as tx:
        tx.execute(INSERT, {"k": "a", "v": 1})
        tx.execute("UPDATE scratch SET v = 99 WHERE k = 'kept'")
        raise RuntimeError("half way")

    assert _rows(scratch) == [{"k": "kept", "v": 0}]


def test_a_failing_statement_rolls_back_the_whole_transaction(scratch):
    with pytest.raises(Exception), scratch.transaction() as tx:  # noqa: B017 (driver's own)
        tx.execute(INSERT, {"k": "a", "v": 1})
        tx.execute(INSERT, {"k": "a", "v": 2})  # duplicate key
    assert _rows(scratch) == []
    with scratch.transaction() as tx:  # the session is usable again
        tx.execute(INSERT, {"k": "a", "v": 3})
    assert _rows(scratch) == [{"k": "a", "v": 3}]


def test_a_transaction_is_not_seen_by_others_before_it_commits(scratch):
    with scratch.transaction() as tx:
        tx.execute(INSERT, {"k": "a", "v": 1})
        assert _rows(scratch) == []
    assert _rows(scratch) == [{"k": "a", "v": 1}]


def test_dialect_names_the_backend(db, db_url):
    assert db.dialect == ("postgres" if db_url.startswith("postgresql") else "sqlite")


def test_every_write_before_an_ack_ends_well_inside_the_window_the_expiry_waits_out():
    # The expiry runs ACK_WINDOW after its deadline, so that a click received before it is
    # written by then: each backend's limit on that write must leave room for its round trip.
    assert postgres_deadlines.QUICK_BUDGET <= ACK_WINDOW - 0.5
    assert (
        postgres_deadlines.QUICK_TIMEOUT + postgres_deadlines.QUICK_FLOOR
        <= postgres_deadlines.QUICK_BUDGET
    )
    assert sqlite.QUICK_WRITE <= ACK_WINDOW - 0.5
