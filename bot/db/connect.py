"""Pick the backend from ``DATABASE_URL`` and bring its schema up to date."""

from __future__ import annotations

from bot.db.base import Database
from bot.db.migrate import migrate


def open_database(url: str) -> Database:
    if url.startswith(("postgresql://", "postgres://")):
        from bot.db.postgres import PostgresDatabase

        db: Database = PostgresDatabase(url)
    elif url.startswith("sqlite:///"):
        from bot.db.sqlite import SqliteDatabase

        db = SqliteDatabase(url.removeprefix("sqlite:///"))
    else:
        raise ValueError(f"DATABASE_URL: unsupported URL {url!r}")
    migrate(db)
    return db
