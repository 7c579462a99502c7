"""Exactly once when the lock is lost: PostgreSQL ends the connection holding a run's advisory
lock (``pg_terminate_backend``: a failover, an idle-session kill, a network cut) while the
decision's resume is under way, and a second process waiting for that lock takes it at once.
The claim's attempt number fences the first: the decision is applied, reported and audited once,
and its effect happens once."""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from bot.domain.models import Decision, RunRequest
from bot.store.audit_log import Audit
from tests.support.cards import wait_card
from tests.support.databases import fresh_postgres
from tests.support.faults import wait_until
from tests.support.inprocess import Clock, inprocess_deps

TEXT = "Announce the outage"


@pytest.fixture
def pg_url():
    with fresh_postgres() as url:
        yield url


def _rows(url: str, sql: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchall()


def _advisory(url: str, granted: bool) -> list[tuple]:
    """Advisory locks held (or waited for) in this test's database."""
    return _rows(
        url,
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted = "
        + ("true" if granted else "false")
        + " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )


def test_a_resume_whose_lock_is_killed_mid_flight_is_applied_once(fake_slack, fake_openai, pg_url):
    first = inprocess_deps(fake_slack, fake_openai, pg_url, Clock(), APPROVERS="U0BOSS")
    second = inprocess_deps(fake_slack, fake_openai, pg_url, Clock(), APPROVERS="U0BOSS")
    try:
        first.engine.start(RunRequest("draft", TEXT, "U0REQ", "C0REQ", "C0REQ"))
        card = wait_card(fake_slack)
        claimed = first.store.claim(card.approval_id, Decision("approve", "U0BOSS"))
        assert claimed is not None
        fake_slack.set_latency("chat.postMessage", 1.5)  # the draft's post is slow

        def nothing() -> str:
            return ""

        with ThreadPoolExecutor(2) as pool:
            one = pool.submit(first.engine.apply, claimed)
            wait_until(
                lambda: _rows(pg_url, "SELECT 1 FROM effects WHERE key LIKE '%:post'"),
                "the first process's resume is posting the draft",
                15,
                nothing,
            )
            two = pool.submit(second.engine.apply, claimed)
            wait_until(
                lambda: _advisory(pg_url, False), "the second waits for the lock", 5, nothing
            )
            [(holder,)] = _advisory(pg_url, True)
            _rows(pg_url, f"SELECT pg_terminate_backend({holder})")
            for done in (one, two):
                # the first process hears its connection was ended, as it would
                with contextlib.suppress(psycopg.OperationalError):
                    done.result(timeout=30)
        fake_slack.set_latency("chat.postMessage", 0)

        posts = [c for c in fake_slack.calls("chat.postMessage") if c.ok]
        assert [c.params["text"] for c in posts].count(f"Draft: {TEXT}") == 1
        reports = [c for c in posts if c.params.get("thread_ts") == card.ts]
        assert len(reports) == 1 and reports[0].params["text"].startswith("Approved.")
        events = [e.event for e in Audit(first.db).since(0) if e.approval_id == card.approval_id]
        assert events.count("executed") == 1
        assert first.store.get_approval(card.approval_id).applied_at is not None
        assert first.store.get_run(claimed.thread_id).status == "done"
    finally:
        first.close()
        second.close()
