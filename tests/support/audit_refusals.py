"""A database that refuses some audit rows, for the tests that a state change and its audit
rows are written together or not at all (tests/core/test_run_ends.py,
tests/slack/test_card_refusals.py): a trigger refuses the rows of the events named, as a dropped
connection or a full disk would refuse the write; and the audit trail as operators read it,
through ``python -m bot audit``."""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Iterator
from typing import Any

from bot.cli import audit_export
from bot.store.db import Database

MESSAGE = "audit refused"


def refuse(db: Database, *events: str) -> None:
    """The database refuses every audit row of ``events`` (names the tests choose) until
    :func:`allow`."""
    listed = ", ".join(f"'{event}'" for event in events)
    if db.dialect == "sqlite":
        db.execute(
            f"CREATE TRIGGER refuse_audit BEFORE INSERT ON audit WHEN NEW.event IN ({listed}) "
            f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
        )
        return
    db.execute(
        "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS "
        f"$$ BEGIN RAISE EXCEPTION '{MESSAGE}'; END $$"
    )
    db.execute(
        "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit FOR EACH ROW "
        f"WHEN (NEW.event IN ({listed})) EXECUTE FUNCTION refuse_audit()"
    )


def allow(db: Database) -> None:
    """Every audit row let through again (the PostgreSQL database is the session's, shared
    with the tests that come after)."""
    if db.dialect == "sqlite":
        db.execute("DROP TRIGGER IF EXISTS refuse_audit")
        return
    db.execute("DROP TRIGGER IF EXISTS refuse_audit ON audit")
    db.execute("DROP FUNCTION IF EXISTS refuse_audit")


@contextlib.contextmanager
def refusing(db: Database, *events: str) -> Iterator[None]:
    """:func:`refuse` for the block, then :func:`allow`, whatever happened in it."""
    refuse(db, *events)
    try:
        yield
    finally:
        allow(db)


def exported(db_url: str, thread_id: str) -> list[dict[str, Any]]:
    """A run's audit trail as ``python -m bot audit --run`` prints it (JSON Lines)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = audit_export.main(
            ["--since", "1d", "--format", "json", "--run", thread_id[:8]],
            env={"DATABASE_URL": db_url},
        )
    assert code == 0
    return [json.loads(line) for line in out.getvalue().splitlines()]
