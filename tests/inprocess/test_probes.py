"""``/healthz`` and ``/metrics`` answer from snapshots background threads refresh, so they keep
answering at once while a count in the database hangs: the bot's HTTP app and its refreshers in
this process (was tests/scenarios/test_bounded.py, against the bot's process)."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.support.cards import wait_card


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_probes_are_answered_from_a_snapshot_while_the_database_hangs(
    bot_in_process, fake_slack, database_url
):
    bot = bot_in_process()
    bot.command("Something to count")
    wait_card(fake_slack)
    wait = time.monotonic() + 10
    while "approval_requests_pending 1.0" not in bot.http.get("/metrics").text:
        assert time.monotonic() < wait, "the pending count never reached /metrics"
        time.sleep(0.1)
    # A lock on the requests' table makes the pending count hang (a database that hangs rather
    # than refuses): a scrape that counted would hang with it, and take a thread meanwhile.
    with psycopg.connect(database_url, autocommit=False) as hold:
        hold.execute("LOCK TABLE approvals IN ACCESS EXCLUSIVE MODE")
        hung = time.monotonic()
        waiting = (
            "SELECT count(*) FROM pg_locks WHERE relation = 'approvals'::regclass AND NOT granted"
        )
        slowest, probes = 0.0, 0
        while time.monotonic() - hung < 3:
            sent = time.perf_counter()
            metrics = bot.http.get("/metrics")
            health = bot.http.get("/healthz")
            slowest = max(slowest, time.perf_counter() - sent)
            probes += 1
            assert "approval_requests_pending 1.0" in metrics.text  # the last count, kept
            assert health.status_code == 200, health.text  # the database itself does answer
        blocked = hold.execute(waiting).fetchone()
        hold.rollback()
    assert blocked is not None and blocked[0] >= 1, "the background count never hung"
    print(
        f"{probes} scrapes and health checks while the count hung, slowest {slowest * 1e3:.0f} ms"
    )
    assert slowest < 1.0  # both, one after the other, on a machine busy with other tests
