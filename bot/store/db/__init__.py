"""Database access: one small interface over SQLite (embedded default) and PostgreSQL.

SQL lives in :mod:`bot.store.sql` (one module per table group) and :mod:`bot.store.db.schema`,
written with ``%(name)s`` placeholders; the SQLite backend rewrites them to ``:name``. Rows come
back as dicts.
"""

from __future__ import annotations

from bot.store.db.base import (
    Database,
    NoAnswer,
    OutcomeUnknown,
    Session,
    WriteWithdrawn,
    patience,
    patient,
)
from bot.store.db.connect import open_database
from bot.store.db.locks import LockBusy

__all__ = [
    "Database",
    "LockBusy",
    "NoAnswer",
    "OutcomeUnknown",
    "Session",
    "WriteWithdrawn",
    "open_database",
    "patience",
    "patient",
]
