"""Migrations (bot.store.db.migrate): every numbered migration applied once, in order, on
both databases; running again applies nothing; two processes starting at once on PostgreSQL
migrate one after the other."""

from __future__ import annotations

import threading

from bot.store.db.migrate import migrate
from bot.store.db.postgres import PostgresDatabase
from bot.store.db.schema import MIGRATIONS
from bot.store.db.sqlite import SqliteDatabase
from tests.support.databases import fresh_postgres

VERSIONS = [version for version, _ in MIGRATIONS]


def test_numbers_only_grow():
    assert sorted(set(VERSIONS)) == VERSIONS


def test_a_new_database_gets_every_migration_in_order_and_once(sqlite_dir):
    db = SqliteDatabase(str(sqlite_dir / "fresh.db"))
    try:
        assert migrate(db) == VERSIONS
        rows = db.fetch_all("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == VERSIONS
        assert migrate(db) == []
        assert db.fetch_one("SELECT COUNT(*) AS n FROM runs") == {"n": 0}
    finally:
        db.close()


def test_an_up_to_date_database_is_left_alone(db):
    before = db.fetch_all("SELECT version, applied_at FROM schema_migrations ORDER BY version")
    assert migrate(db) == []
    assert db.fetch_all("SELECT version, applied_at FROM schema_migrations ORDER BY version") == (
        before
    )
    assert [r["version"] for r in before] == VERSIONS


def test_an_older_database_gets_only_the_migrations_it_lacks(sqlite_dir, monkeypatch):
    db = SqliteDatabase(str(sqlite_dir / "old.db"))
    try:
        with monkeypatch.context() as older:  # the bot as it shipped three migrations ago
            older.setattr("bot.store.db.migrate.MIGRATIONS", MIGRATIONS[:-3])
            assert migrate(db) == VERSIONS[:-3]
        assert migrate(db) == VERSIONS[-3:]
        assert migrate(db) == []
    finally:
        db.close()


def test_two_processes_migrating_one_new_postgres_database_at_once():
    with fresh_postgres(migrated=False) as url:
        first, second = PostgresDatabase(url), PostgresDatabase(url)
        applied: list[list[int]] = []
        errors: list[BaseException] = []
        barrier = threading.Barrier(2)

        def start(db) -> None:
            barrier.wait(10)
            try:
                applied.append(migrate(db))
            except BaseException as exc:  # noqa: BLE001 (reported below)
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(db,)) for db in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        first.close()
        second.close()
    assert errors == []
    assert sorted(applied, key=len) == [[], VERSIONS]


DISTINCT = 27  # the migration that marks a run's requests ``distinct_run``


def _before(version: int) -> list:
    return [m for m in MIGRATIONS if m[0] < version]


def _with_distinct_requests_recorded_before_27(db) -> dict[str, int]:
    """Two runs recorded before migration 27 (``DISTINCT``): one with a request signed by
    distinct people and a sibling that is not, one with neither; after it, each request's
    ``distinct_run``."""
    run = "INSERT INTO runs (thread_id, graph, request, requester, channel, approvals_channel,"
    run += " status, created_at, updated_at) VALUES (%(t)s, 'g', 'r', 'U0', 'C', 'C', 'waiting',"
    run += " 0, 0)"
    request = (
        "INSERT INTO approvals (id, thread_id, interrupt_id, graph, request, requester, payload,"
        " channel, status, created_at, signoff) VALUES (%(id)s, %(t)s, %(id)s, 'g', 'r', 'U0',"
        " '{}', 'C', 'pending', 0, %(signoff)s)"
    )
    plain, distinct = '{"distinct": false}', '{"distinct": true}'
    for thread, signoffs in (("t1", (distinct, plain)), ("t2", (plain, plain))):
        db.execute(run, {"t": thread})
        for number, signoff in enumerate(signoffs):
            db.execute(request, {"id": f"{thread}-{number}", "t": thread, "signoff": signoff})
    assert migrate(db) == [v for v, _ in MIGRATIONS if v >= DISTINCT]
    rows = db.fetch_all("SELECT id, distinct_run FROM approvals ORDER BY id")
    return {r["id"]: int(r["distinct_run"]) for r in rows}


def test_a_run_with_a_distinct_request_before_27_marks_each_of_its_requests(
    sqlite_dir, monkeypatch
):
    marked = {"t1-0": 1, "t1-1": 1, "t2-0": 0, "t2-1": 0}
    db = SqliteDatabase(str(sqlite_dir / "before-27.db"))
    try:
        with monkeypatch.context() as older:
            older.setattr("bot.store.db.migrate.MIGRATIONS", _before(DISTINCT))
            migrate(db)
        assert _with_distinct_requests_recorded_before_27(db) == marked
    finally:
        db.close()
    with fresh_postgres(migrated=False) as url:
        pg = PostgresDatabase(url)
        try:
            with monkeypatch.context() as older:
                older.setattr("bot.store.db.migrate.MIGRATIONS", _before(DISTINCT))
                migrate(pg)
            assert _with_distinct_requests_recorded_before_27(pg) == marked
        finally:
            pg.close()
