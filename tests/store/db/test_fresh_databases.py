"""The PostgreSQL databases tests get (tests/support/databases.py): one a test is done with is
handed to a later test only made new again (its rows gone, identities restarted, every session
on it ended and its old name gone), and never when its schema was changed."""

from __future__ import annotations

import psycopg
import pytest

from tests.support.databases import fresh_postgres, require_postgres, settle

LEDGERS = {"schema_migrations", "checkpoint_migrations"}
RULE = (
    "INSERT INTO rules (graph, action, requester, channel, match, created_by, created_at,"
    " expires_at, approval_id, thread_id) VALUES"
    " ('draft', 'post', 'U0REQ', 'C0', '{}', 'U0BOSS', 0, 1, 'a1', 't1') RETURNING id"
)


@pytest.fixture(autouse=True)
def _postgres() -> None:
    require_postgres()


def _tables(conn: psycopg.Connection) -> dict[str, int]:
    names = conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'").fetchall()
    counts = {}
    for (name,) in names:
        row = conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()
        counts[name] = row[0] if row else -1
    return counts


def test_the_next_test_finds_no_row_of_the_last_and_identities_restarted():
    with fresh_postgres() as first, psycopg.connect(first, autocommit=True) as conn:
        assert conn.execute(RULE).fetchone() == (1,)
        assert conn.execute(RULE).fetchone() == (2,)
        ledgers = {name: n for name, n in _tables(conn).items() if name in LEDGERS}
    settle()
    with fresh_postgres() as second, psycopg.connect(second, autocommit=True) as conn:
        assert second != first  # a new name: see the next test
        counts = _tables(conn)
        assert {name: n for name, n in counts.items() if n and name not in LEDGERS} == {}
        assert {name: counts[name] for name in LEDGERS} == ledgers  # the migrations stay
        assert conn.execute(RULE).fetchone() == (1,)


def test_what_the_last_test_left_connected_is_cut_off_and_its_name_is_gone():
    with fresh_postgres() as first:
        left_open = psycopg.connect(first, autocommit=True)  # a bot or thread still running
    settle()
    with fresh_postgres():
        with pytest.raises(psycopg.OperationalError):
            left_open.execute("SELECT 1")
        with pytest.raises(psycopg.OperationalError, match="does not exist"):
            psycopg.connect(first).close()
    left_open.close()


def test_a_database_whose_schema_a_test_changed_is_not_handed_on():
    with fresh_postgres() as first, psycopg.connect(first, autocommit=True) as conn:
        conn.execute("CREATE TABLE scratch (x INTEGER)")
        conn.execute("ALTER TABLE jobs SET (fillfactor = 100)")
    settle()
    with fresh_postgres() as second, psycopg.connect(second, autocommit=True) as conn:
        assert "scratch" not in _tables(conn)
        [(options,)] = conn.execute("SELECT reloptions FROM pg_class WHERE relname = 'jobs'")
        assert options == ["fillfactor=70"]
