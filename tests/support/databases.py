"""Fresh databases for tests: a SQLite file, or a new database on the real PostgreSQL server.

A new PostgreSQL database is a copy of a template the suite migrates once (the bot's tables and
LangGraph's checkpoint tables, as ``open_database`` and the checkpointer leave them), named by a
hash of the migrations and of the checkpointer's version, so a changed migration builds a new
one.

A migrated database a test is done with is made new again in the background rather than
dropped, and handed to the next test of the same process: each copy from the template wrote
4.6 MB of WAL, and each drop forced a checkpoint of the whole server (PostgreSQL 15's
``dropdb``), about 450 of each a run (without the drops, 152 PostgreSQL tests took 39.6 s
instead of 46.7; the whole suite with this, 225 s instead of 248). Made new
means: every session on it ended and the database renamed (so whatever the last test left
running, a bot or a thread, cannot reach the next test's database), its schema checked to be
the template's exactly (tables, columns, indexes, constraints, triggers, functions, settings and
both migration ledgers; anything else and it is dropped instead), and every table but the
migration ledgers emptied, identities restarted. An unmigrated database (``migrated=False``) is
always new and always dropped. Whatever is left is dropped before the test process exits.
"""

from __future__ import annotations

import atexit
import hashlib
import importlib.metadata
import inspect
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def postgres_available() -> bool:
    try:
        with psycopg.connect(ADMIN_URL, connect_timeout=3):
            return True
    except psycopg.OperationalError:
        return False


def require_postgres() -> None:
    if postgres_available():
        return
    message = f"PostgreSQL is not reachable at {ADMIN_URL}"
    if os.environ.get("CI") == "true":
        pytest.fail(message + " (CI requires it)")
    pytest.skip(message)


_BASE = ADMIN_URL.rsplit("/", 1)[0]
_template_lock = threading.Lock()
_template: str | None = None
# The thread that drops databases and makes them new again: its statements are nobody's test's
# (tests/support/statements.py leaves them out of a count).
HOUSEKEEPING = "test-databases"
_drops = ThreadPoolExecutor(1, thread_name_prefix=HOUSEKEEPING)
_dropping: list[Future[None]] = []
_spares: list[str] = []  # migrated databases made new again, for this process's next tests
_spares_lock = threading.Lock()
_reference: str | None = None  # the template's schema, as _schema reads it from a new copy
# What a test's rows never touch: which migrations the bot's and LangGraph's tables are at.
_LEDGERS = ("schema_migrations", "checkpoint_migrations")
_SCHEMA = """
SELECT md5(string_agg(item, E'\\n' ORDER BY item)) FROM (
    SELECT 'ns ' || nspname FROM pg_namespace
     WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema'
    UNION ALL
    SELECT 'rel ' || n.nspname || '.' || c.relname || ' ' || c.relkind::text || ' '
           || coalesce(array_to_string(c.reloptions, ','), '')
      FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    UNION ALL
    SELECT 'col ' || a.attrelid::regclass::text || '.' || a.attname || ' '
           || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' '
           || coalesce(pg_get_expr(d.adbin, d.adrelid), '')
      FROM pg_attribute a
      JOIN pg_class c ON c.oid = a.attrelid
      JOIN pg_namespace n ON n.oid = c.relnamespace
      LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
     WHERE n.nspname = 'public' AND a.attnum > 0 AND NOT a.attisdropped
    UNION ALL
    SELECT 'con ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace
    UNION ALL
    SELECT 'idx ' || pg_get_indexdef(indexrelid) FROM pg_index
     WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
    UNION ALL
    SELECT 'trg ' || tgrelid::regclass::text || ' ' || tgname FROM pg_trigger WHERE NOT tgisinternal
    UNION ALL
    SELECT 'fn ' || oid::regprocedure::text FROM pg_proc
     WHERE pronamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace)
    UNION ALL
    SELECT 'ext ' || extname FROM pg_extension
    UNION ALL
    SELECT 'set ' || array_to_string(setconfig, ',') FROM pg_db_role_setting
     WHERE setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
    UNION ALL
    SELECT 'mig ' || count(*) || ' ' || coalesce(max(version), 0) FROM schema_migrations
    UNION ALL
    SELECT 'cpm ' || count(*) || ' ' || coalesce(max(v), 0) FROM checkpoint_migrations
) AS schema(item)
"""


def _template_name() -> str:
    from bot.store.db import schema

    digest = hashlib.sha256(inspect.getsource(schema).encode())
    digest.update(importlib.metadata.version("langgraph-checkpoint-postgres").encode())
    return f"approvals_template_{digest.hexdigest()[:12]}"


def migrated_template() -> str:
    """The template every test database is copied from, built once by whichever test process
    gets there first (an advisory lock keeps the others waiting meanwhile)."""
    global _template
    with _template_lock:
        if _template is not None:
            return _template
        name = _template_name()
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute("SELECT pg_advisory_lock(20261205)")
            try:
                found = conn.execute(
                    "SELECT 1 FROM pg_database WHERE datname = %s AND datistemplate", (name,)
                ).fetchone()
                if found is None:
                    _build_template(conn, name)
            finally:
                conn.execute("SELECT pg_advisory_unlock(20261205)")
        _template = name
        return name


def _build_template(conn: psycopg.Connection, name: str) -> None:
    from bot.store.db import open_database

    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a half-built one
    conn.execute(f'CREATE DATABASE "{name}"')
    db = open_database(f"{_BASE}/{name}")  # the bot's migrations
    try:
        db.checkpointer()  # LangGraph's own tables
    finally:
        db.close()
    conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false')


def _drop(name: str) -> None:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _new_name() -> str:
    return f"approvals_test_{uuid.uuid4().hex[:12]}"


def _schema(conn: psycopg.Connection) -> str:
    row = conn.execute(_SCHEMA).fetchone()
    assert row is not None
    return str(row[0])


def _recycle(name: str) -> None:
    """Make a migrated database a test is done with new again and keep it for the next test;
    drop it when it cannot be (still in use after its sessions were ended, a schema changed)."""
    renamed = _new_name()
    try:
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            # PostgreSQL waits up to 5 s for the ended sessions to go; one still there makes
            # it fail (55006), and the database is dropped instead.
            conn.execute(f'ALTER DATABASE "{name}" RENAME TO "{renamed}"')
            conn.execute(f'ALTER DATABASE "{renamed}" WITH ALLOW_CONNECTIONS true')
        with psycopg.connect(f"{_BASE}/{renamed}", autocommit=True) as conn:
            if _schema(conn) != _reference:
                raise ValueError(f"{name}: its schema is no longer the template's")
            rows = conn.execute(
                "SELECT quote_ident(tablename) FROM pg_tables WHERE schemaname = 'public'"
                " AND tablename <> ALL(%s)",
                (list(_LEDGERS),),
            ).fetchall()
            conn.execute(f"TRUNCATE {', '.join(row[0] for row in rows)} RESTART IDENTITY")
    except Exception:
        _drop(name)
        _drop(renamed)
        return
    with _spares_lock:
        _spares.append(renamed)


def _spare() -> str | None:
    with _spares_lock:
        return _spares.pop() if _spares else None


def settle() -> None:
    """Wait until every database a test is done with has been dropped or made new again."""
    for dropping in list(_dropping):
        dropping.exception()  # one that failed leaves a database behind, nothing worse


def _at_exit() -> None:
    settle()  # the recycling too: it may add a spare
    with _spares_lock:
        left, _spares[:] = list(_spares), []
    for name in left:  # here: the pool takes nothing more once the interpreter is ending
        _drop(name)


atexit.register(_at_exit)


@contextmanager
def fresh_postgres(migrated: bool = True) -> Iterator[str]:
    """A database as if new: nothing a test wrote is in it and no other test can reach it.
    ``migrated``: with the bot's and the checkpointer's tables already there (what
    ``open_database`` would do first), else empty."""
    global _reference
    require_postgres()
    name = _spare() if migrated else None
    if name is None:
        name = _new_name()
        template = f' TEMPLATE "{migrated_template()}"' if migrated else ""
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"{template}')
    try:
        if migrated and _reference is None:
            with psycopg.connect(f"{_BASE}/{name}", autocommit=True) as conn:
                _reference = _schema(conn)
        yield f"{_BASE}/{name}"
    finally:
        _dropping.append(_drops.submit(_recycle if migrated else _drop, name))


@pytest.fixture(name="database_url")
def sqlite_unless_asked(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """``database_url`` for a module that imports this: SQLite unless a test asks for
    PostgreSQL (``indirect``), where the conftest's runs every test on both. A fixture, so the
    database is dropped only after the bot using it has stopped."""
    if getattr(request, "param", "sqlite") == "postgres":
        with fresh_postgres() as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path / 'bot.db'}"
