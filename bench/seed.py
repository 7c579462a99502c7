"""Many pending requests at once, each a copy of one real request the bot made.

The copies are made by PostgreSQL itself (``generate_series``), so 100,000 take seconds: a run
waiting on one pending request, its card posted in one of ``channels`` channels, a reminder (due
now for every ``due_every``-th request, later for the others) and an expiry a day away.
"""

from __future__ import annotations

import psycopg

PREFIX = "seed"

RUNS = """
INSERT INTO runs (thread_id, graph, request, requester, channel, approvals_channel, status,
                  result, created_at, updated_at)
SELECT %(prefix)s || g, graph, request || ' #' || g, requester, channel, approvals_channel,
       'waiting', NULL, %(now)s - 7200, %(now)s - 7200
FROM runs, generate_series(1, %(n)s) g WHERE thread_id = %(thread_id)s
"""
APPROVALS = """
INSERT INTO approvals (id, thread_id, interrupt_id, graph, request, requester, payload, channel,
                       ts, status, created_at, review, signoff, stage, thread_ts)
SELECT %(prefix)s || g, %(prefix)s || g, interrupt_id, graph, request || ' #' || g, requester,
       payload, 'CBENCH' || (g %% %(channels)s), (1700000000 + g) || '.000100', 'pending',
       %(now)s - 7200 + g * 0.001, review, signoff, 0, NULL
FROM approvals, generate_series(1, %(n)s) g WHERE id = %(approval_id)s
"""
JOBS = """
INSERT INTO jobs (id, approval_id, kind, level, round, detail, due_at, status)
SELECT %(prefix)s || 'r' || g, %(prefix)s || g, 'remind', 0, 0, '{}',
       CASE WHEN g %% %(due_every)s = 0 THEN %(now)s - 60 - g * 0.001 ELSE %(now)s + 3600 + g END,
       'pending'
FROM generate_series(1, %(n)s) g
UNION ALL
SELECT %(prefix)s || 'e' || g, %(prefix)s || g, 'expire', 0, 0,
       '{"as": "reject", "after": 86400}', %(now)s + 86400 + g, 'pending'
FROM generate_series(1, %(n)s) g
"""


def seed_pending(
    database_url: str,
    approval_id: str,
    n: int,
    now: float,
    channels: int = 10,
    due_every: int = 100,
) -> int:
    """Copy pending request ``approval_id`` ``n`` times; returns how many reminders are due."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        (thread_id,) = conn.execute(
            "SELECT thread_id FROM approvals WHERE id = %s", (approval_id,)
        ).fetchone() or (None,)
        if thread_id is None:
            raise LookupError(f"no request {approval_id} to copy")
        params = {
            "prefix": PREFIX,
            "n": n,
            "now": now,
            "channels": channels,
            "due_every": due_every,
            "thread_id": thread_id,
            "approval_id": approval_id,
        }
        with conn.transaction():
            for sql in (RUNS, APPROVALS, JOBS):
                conn.execute(sql, params)
        for table in ("runs", "approvals", "jobs"):
            conn.execute(f"ANALYZE {table}")
    return n // due_every


def rearm_due(database_url: str, now: float) -> None:
    """Make the seeded reminders a tick just did due again (and forget it did them)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "UPDATE jobs SET status = 'pending', done_at = NULL, locked_until = NULL, "
            "attempts = 0 WHERE id LIKE %s AND kind = 'remind' AND due_at <= %s",
            (PREFIX + "r%", now),
        )
        conn.execute("DELETE FROM audit WHERE event = 'reminded'")


def count_done_reminders(database_url: str) -> int:
    with psycopg.connect(database_url) as conn:
        (n,) = conn.execute(
            "SELECT count(*) FROM jobs WHERE id LIKE %s AND kind = 'remind' AND status = 'done'",
            (PREFIX + "r%",),
        ).fetchone()
    return int(n)
