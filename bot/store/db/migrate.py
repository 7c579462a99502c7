"""Apply :data:`bot.store.db.schema.MIGRATIONS` idempotently, safe when several processes start."""

from __future__ import annotations

import time

from bot.store.db.base import Database
from bot.store.db.schema import MIGRATIONS

_CREATE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    applied_at DOUBLE PRECISION NOT NULL
)"""
_APPLIED = "SELECT version FROM schema_migrations"
_RECORD = "INSERT INTO schema_migrations (version, applied_at) VALUES (%(v)s, %(t)s)"
_PG_LOCK = "SELECT pg_advisory_xact_lock(72177)"
# A migration may rewrite a big table, and waits for the bot's other sessions' locks: the
# sessions' own limits (bot.store.db.locks) do not apply to it, for this transaction only.
_PG_NO_LIMITS = ("SET LOCAL statement_timeout = 0", "SET LOCAL lock_timeout = 0")


def migrate(db: Database) -> list[int]:
    """Bring the schema up to date; return the versions applied now."""
    applied_now: list[int] = []
    with db.transaction() as tx:
        if db.dialect == "postgres":
            for setting in _PG_NO_LIMITS:
                tx.execute(setting)
            tx.fetch_one(_PG_LOCK)  # two bots starting at once migrate one after the other
        tx.execute(_CREATE)
        done = {row["version"] for row in tx.fetch_all(_APPLIED)}
        for version, statements in MIGRATIONS:
            if version in done:
                continue
            for statement in statements:
                sql = statement if isinstance(statement, str) else statement.get(db.dialect)
                if sql:
                    tx.execute(sql)
            tx.execute(_RECORD, {"v": version, "t": time.time()})
            applied_now.append(version)
    return applied_now
