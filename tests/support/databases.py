"""Fresh databases for tests: a SQLite file, or a new database on the real PostgreSQL server.

A new PostgreSQL database is a copy of a template the suite migrates once (the bot's tables and
LangGraph's checkpoint tables, as ``open_database`` and the checkpointer leave them), named by a
hash of the migrations and of the checkpointer's version, so a changed migration builds a new
one. Each test's database is dropped in the background (a drop waits for the server's
checkpoint, ~0.4 s), and every drop is waited for before the test process exits.
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
_drops = ThreadPoolExecutor(1, thread_name_prefix="drop-test-database")
_dropping: list[Future[None]] = []


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


def _wait_for_drops() -> None:
    for dropping in list(_dropping):
        dropping.exception()  # a drop that failed leaves a database behind, nothing worse


atexit.register(_wait_for_drops)


@contextmanager
def fresh_postgres(migrated: bool = True) -> Iterator[str]:
    """A new database; ``migrated``: with the bot's and the checkpointer's tables already
    there (what ``open_database`` would do first), else empty."""
    require_postgres()
    name = f"approvals_test_{uuid.uuid4().hex[:12]}"
    template = f' TEMPLATE "{migrated_template()}"' if migrated else ""
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{template}')
    try:
        yield f"{_BASE}/{name}"
    finally:
        _dropping.append(_drops.submit(_drop, name))


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
