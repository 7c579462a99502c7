"""Pick the backend from ``DATABASE_URL`` and bring its schema up to date.

Start-up problems (no server, wrong credentials, an unwritable file) become a
:class:`~bot.config.ConfigError` naming ``DATABASE_URL``, not a pool timeout half a minute later.
"""

from __future__ import annotations

import sqlite3
from urllib.parse import unquote, urlsplit

from bot.config import ConfigError
from bot.store.db.base import Database
from bot.store.db.migrate import migrate

CONNECT_TIMEOUT = 5


def _first_line(exc: BaseException, url: str = "") -> str:
    """The error's first line, with the URL's password (as written, and decoded) blotted out:
    libpq quotes the part of a URL it cannot read, and this goes to the log."""
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    for secret in {password, unquote(password)} if password else ():
        text = text.replace(secret, "***")
    return text[:300]


def open_database(url: str) -> Database:
    if url.startswith(("postgresql://", "postgres://")):
        import psycopg

        from bot.store.db.postgres import PostgresDatabase

        try:
            with psycopg.connect(url, connect_timeout=CONNECT_TIMEOUT):
                pass
        except psycopg.Error as exc:
            raise ConfigError(
                f"DATABASE_URL: cannot connect to PostgreSQL ({_first_line(exc, url)}); check the "
                "host, port, database name and credentials"
            ) from None
        db: Database = PostgresDatabase(url)
    elif url.startswith("sqlite:///"):
        from bot.store.db.sqlite import SqliteDatabase

        path = url.removeprefix("sqlite:///")
        if path in ("", ":memory:"):
            # Each call opens its own connection, and such a database lasts one connection:
            # the schema would be gone before the first request.
            raise ConfigError(
                f"DATABASE_URL: {url!r} names no file; SQLite needs one (sqlite:///path/bot.db)"
            )
        try:
            db = SqliteDatabase(path)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"DATABASE_URL: cannot open {url}: {_first_line(exc)}") from None
    else:
        scheme = url.split("://", 1)[0] if "://" in url else "this kind of"
        raise ConfigError(f"DATABASE_URL: {scheme} URLs are not supported")
    migrate(db)
    return db
