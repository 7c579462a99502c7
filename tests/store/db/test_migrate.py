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
