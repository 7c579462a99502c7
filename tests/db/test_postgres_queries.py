"""The tick's claim query reads due rows through the partial index on due time."""

from __future__ import annotations

import psycopg

from bot.store.db import open_database
from bot.store.sql.jobs import CLAIM_DUE_JOBS
from bot.store.sql.requests import CARDS_DUE, PENDING
from bot.store.sql.runs import STALE_RUNS


def test_claim_due_jobs_uses_the_due_index(postgres_url):
    db = open_database(postgres_url)
    db.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO runs VALUES ('t', 'draft', 'r', 'U1', 'C1', 'C1', 'waiting', NULL, 0, 0)"
        )
        conn.execute(
            "INSERT INTO approvals (id, thread_id, interrupt_id, graph, request, requester,"
            " payload, channel, status, created_at) VALUES ('a', 't', 'i', 'draft', 'r', 'U1',"
            " '{}', 'C1', 'pending', 0)"
        )
        conn.execute(
            "INSERT INTO jobs (id, approval_id, kind, level, round, detail, due_at, status)"
            " SELECT g::text, 'a', 'remind', 0, 0, '{}', 1e9 + g, 'pending'"
            " FROM generate_series(1, 50000) g"
        )
        conn.execute("ANALYZE jobs")
        sql = CLAIM_DUE_JOBS.replace("%(now)s", "1000000010").replace("%(lease)s", "0")
        sql = sql.replace("%(expire_by)s", "1000000007")
        plan = conn.execute("EXPLAIN " + sql.replace("%(limit)s", "20")).fetchall()
    text = "\n".join(row[0] for row in plan)
    assert "jobs_due" in text, text


def test_what_waits_is_read_through_the_pending_index(postgres_url):
    db = open_database(postgres_url)
    db.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO runs VALUES ('t', 'draft', 'r', 'U1', 'C1', 'C1', 'done', NULL, 0, 0)"
        )
        conn.execute(
            "INSERT INTO approvals (id, thread_id, interrupt_id, graph, request, requester,"
            " payload, channel, ts, status, created_at)"
            " SELECT g::text, 't', g::text, 'draft', 'r', 'U1', '{}', 'C1', '1.0',"
            " CASE WHEN g % 100 = 0 THEN 'pending' ELSE 'approved' END, g"
            " FROM generate_series(1, 50000) g"
        )
        conn.execute("ANALYZE approvals")
        plans = {}
        for name, sql in (("pending", PENDING), ("cards_due", CARDS_DUE)):
            text = sql.replace("%(limit)s", "20").replace("%(before)s", "1e9")
            text = text.replace("%(now)s", "1e9").replace("%(per_channel)s", "10")
            plans[name] = "\n".join(r[0] for r in conn.execute("EXPLAIN " + text).fetchall())
    assert "approvals_pending" in plans["pending"], plans["pending"]
    # Cards not posted are a handful among all that waits: read through their own index.
    assert "approvals_card_due" in plans["cards_due"], plans["cards_due"]


def test_the_stale_run_sweep_reads_only_running_runs_not_every_waiting_one(postgres_url):
    db = open_database(postgres_url)
    db.close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO runs SELECT g::text, 'draft', 'r', 'U1', 'C1', 'C1',"
            " CASE WHEN g % 1000 = 0 THEN 'running' ELSE 'waiting' END, NULL, 0, g"
            " FROM generate_series(1, 50000) g"
        )
        conn.execute("ANALYZE runs")
        sql = STALE_RUNS.replace("%(before)s", "1e9").replace("%(limit)s", "50")
        sql = sql.replace("%(now)s", "1e9")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN " + sql).fetchall())
    assert "runs_status" in plan and "Seq Scan" not in plan, plan


def test_jobs_leave_room_on_each_page_so_a_claim_updates_in_place(postgres_url):
    open_database(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        (options,) = conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'jobs'"
        ).fetchone()
    assert "fillfactor=70" in (options or [])
