"""Retention: delete what ended long ago (``python -m bot prune``).

The bot deletes nothing on its own. An operator runs this from a scheduled job: runs that ended
(``done``, ``failed``, ``cancelled``) and were last touched before the cutoff go, with everything
kept for them (their cards, votes, jobs, clicks, effect ledger entries and LangGraph
checkpoints); clicks and scheduler jobs that are finished, and remembered approvals that
expired or were revoked, go on the same cutoff whatever their run; the audit trail only on its
own cutoff, when one is given. Runs still running or waiting are never touched, nor a run that
ended with a request still pending or a decision the recovery sweep will still apply. It is one
transaction: a run is deleted whole or not at all.
"""

from __future__ import annotations

from contextlib import suppress

from bot.store.attempts import MAX_APPLY_ATTEMPTS
from bot.store.db import Database, Session

ENDED = "('done', 'failed', 'cancelled')"
# LangGraph's checkpoint tables, by backend (PostgresSaver, SqliteSaver).
CHECKPOINT_TABLES = {
    "postgres": ("checkpoint_writes", "checkpoint_blobs", "checkpoints"),
    "sqlite": ("writes", "checkpoints"),
}
TEMP = {  # filled by INSERT … SELECT: PostgreSQL takes no parameters in CREATE TABLE AS
    "postgres": "CREATE TEMP TABLE {name} ({column} TEXT PRIMARY KEY) ON COMMIT DROP",
    "sqlite": "CREATE TEMP TABLE {name} ({column} TEXT PRIMARY KEY)",
}
EXISTS = {
    "postgres": "SELECT to_regclass(%(name)s) IS NOT NULL AS present",
    "sqlite": "SELECT count(*) > 0 AS present FROM sqlite_master WHERE name = %(name)s",
}
# Not a run with a request still waiting, nor one with a decision the recovery sweep will still
# apply (bot.store.sql.attempts.UNAPPLIED): a run that failed keeps its approved decision until
# the sweep gives up on it, however long its retries have left the run untouched.
OLD_RUNS = f"""
SELECT thread_id FROM runs
WHERE status IN {ENDED} AND updated_at < %(before)s
  AND NOT EXISTS (
    SELECT 1 FROM approvals a WHERE a.thread_id = runs.thread_id
      AND (a.status = 'pending' OR (a.applied_at IS NULL AND a.apply_attempts < %(attempts)s))
  )
"""
OLD_KEYS = (  # effect ledger keys start with the run's thread id or one of its request ids
    "SELECT thread_id AS prefix FROM prune_runs "
    "UNION SELECT id FROM approvals WHERE thread_id IN (SELECT thread_id FROM prune_runs)"
)
OF_RUNS = "thread_id IN (SELECT thread_id FROM prune_runs)"
OF_REQUESTS = f"approval_id IN (SELECT id FROM approvals WHERE {OF_RUNS})"
STEPS: tuple[tuple[str, str], ...] = (
    ("jobs", f"DELETE FROM jobs WHERE {OF_REQUESTS}"),
    ("votes", f"DELETE FROM votes WHERE {OF_REQUESTS}"),
    ("inbox", f"DELETE FROM inbox WHERE {OF_REQUESTS}"),
    ("card_posts", f"DELETE FROM card_posts WHERE {OF_REQUESTS}"),
    (
        "effects",
        "DELETE FROM effects WHERE EXISTS (SELECT 1 FROM prune_keys k "
        "WHERE substr(effects.key, 1, length(k.prefix) + 1) = k.prefix || ':')",
    ),
    ("approvals", f"DELETE FROM approvals WHERE {OF_RUNS}"),
    ("runs", f"DELETE FROM runs WHERE {OF_RUNS}"),
    # Finished work of runs that go on: a click applied, a reminder sent or cancelled.
    ("inbox", "DELETE FROM inbox WHERE done_at IS NOT NULL AND done_at < %(before)s"),
    (
        "jobs",
        "DELETE FROM jobs WHERE status <> 'pending' AND COALESCE(done_at, due_at) < %(before)s",
    ),
    # Remembered approvals that ended (expired or revoked) before the cutoff.
    ("rules", "DELETE FROM rules WHERE COALESCE(revoked_at, expires_at) < %(before)s"),
)


class _DryRun(Exception):
    """Raised inside the transaction so that a dry run rolls it back."""


def prune(
    db: Database, before: float, audit_before: float | None = None, dry_run: bool = False
) -> dict[str, int]:
    """Delete what ended before ``before`` (Unix time), and audit events before
    ``audit_before`` when given; how many rows went (or would go, ``dry_run``), by table."""
    counts: dict[str, int] = {}
    with suppress(_DryRun):  # a dry run's transaction is rolled back
        _prune(db, before, audit_before, dry_run, counts)
    return counts


def _prune(
    db: Database, before: float, audit_before: float | None, dry_run: bool, counts: dict[str, int]
) -> None:

    def count(table: str, rows: int) -> None:
        counts[table] = counts.get(table, 0) + max(rows, 0)

    with db.transaction() as tx:
        alive = {"before": before, "attempts": MAX_APPLY_ATTEMPTS}
        # PostgreSQL: the chosen runs stay locked to the end, so a Retry pressed meanwhile waits
        # for the prune and then finds its run gone; one that came first is seen, and skipped.
        chosen = OLD_RUNS + " FOR UPDATE OF runs" if db.dialect == "postgres" else OLD_RUNS
        _temp(tx, db.dialect, "prune_runs", "thread_id", chosen, alive)
        _temp(tx, db.dialect, "prune_keys", "prefix", OLD_KEYS, None)
        for table in CHECKPOINT_TABLES[db.dialect]:
            if _exists(tx, db.dialect, table):
                count(table, tx.execute(f"DELETE FROM {table} WHERE {OF_RUNS}"))
        for table, sql in STEPS:
            count(table, tx.execute(sql, {"before": before}))
        if audit_before is not None:
            count("audit", tx.execute("DELETE FROM audit WHERE at < %(at)s", {"at": audit_before}))
        if db.dialect == "sqlite":  # PostgreSQL drops them at commit
            tx.execute("DROP TABLE prune_keys")
            tx.execute("DROP TABLE prune_runs")
        if dry_run:
            raise _DryRun


def _temp(
    tx: Session, dialect: str, name: str, column: str, select: str, params: dict | None
) -> None:
    tx.execute(TEMP[dialect].format(name=name, column=column))
    tx.execute(f"INSERT INTO {name} ({column}) {select}", params)


def _exists(tx: Session, dialect: str, table: str) -> bool:
    row = tx.fetch_one(EXISTS[dialect], {"name": table})
    return bool(row and row["present"])
