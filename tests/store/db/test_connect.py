"""Choosing the backend from DATABASE_URL (bot.store.db.connect): each start-up problem is a
ConfigError naming the variable, at once, not a pool timeout later."""

from __future__ import annotations

import time

import pytest

from bot.config import ConfigError
from bot.store.db.connect import open_database
from tests.support.units import empty_postgres


def test_a_sqlite_url_opens_a_migrated_sqlite_database(sqlite_dir):
    db = open_database(f"sqlite:///{sqlite_dir / 'a' / 'bot.db'}")
    try:
        assert db.dialect == "sqlite"
        assert db.fetch_one("SELECT COUNT(*) AS n FROM approvals") == {"n": 0}
    finally:
        db.close()


def test_a_postgres_url_opens_a_migrated_postgres_database(shared_postgres):
    empty_postgres(shared_postgres)  # the session's database: other tests leave rows behind
    for url in (shared_postgres, shared_postgres.replace("postgresql://", "postgres://", 1)):
        db = open_database(url)
        try:
            assert db.dialect == "postgres"
            assert db.fetch_one("SELECT COUNT(*) AS n FROM approvals") == {"n": 0}
        finally:
            db.close()


def test_an_unsupported_url_names_the_variable():
    with pytest.raises(ConfigError, match=r"DATABASE_URL: mysql URLs are not supported"):
        open_database("mysql://app:Zq9s3cret@x/y")


@pytest.mark.parametrize("password", ["Zq9s3cretPassw0rd%zz", "Zq9s3cret%2FPassw0rd%zz"])
def test_a_postgres_url_libpq_cannot_read_is_refused_without_its_password(password):
    # libpq quotes the part it cannot read (here the password's bad %-escape): not to the log.
    with pytest.raises(ConfigError, match="DATABASE_URL: cannot connect") as refused:
        open_database(f"postgresql://app:{password}@127.0.0.1:5432/approvals")
    assert "Zq9s3cret" not in str(refused.value), str(refused.value)


def test_an_unreachable_postgres_server_is_said_at_once():
    started = time.monotonic()
    with pytest.raises(ConfigError, match="DATABASE_URL: cannot connect to PostgreSQL") as raised:
        open_database("postgresql://nobody@127.0.0.1:1/none")
    assert "check the host, port" in str(raised.value)
    assert raised.value.__cause__ is None  # the driver's trace is not the message
    assert time.monotonic() - started < 10


def test_a_sqlite_file_that_cannot_be_made_names_the_variable(sqlite_dir):
    blocker = sqlite_dir / "file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match="DATABASE_URL: cannot open sqlite:///"):
        open_database(f"sqlite:///{blocker / 'bot.db'}")


@pytest.mark.parametrize("url", ["sqlite:///:memory:", "sqlite:///"])
def test_a_sqlite_url_that_names_no_file_is_refused_at_start(url):
    """Each call opens its own connection, and an in-memory (or unnamed) database lasts one
    connection: it once opened, migrated a database that was gone at once, and failed the
    first request with "no such table"."""
    with pytest.raises(ConfigError, match="DATABASE_URL: .* names no file"):
        open_database(url)
