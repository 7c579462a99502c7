"""Looking after runs from Slack: /agent pending, status, cancel and audit; the audit export;
and the metrics moving as decisions happen. Over signed requests to the real bot."""

from __future__ import annotations

import time

import pytest

from bot.slack.blocks import card as ids
from tests.support.cards import (
    wait_card,
)
from tests.support.operations import metric, scrape_when

REQ, BOSS, RANDO = "U0REQ", "U0BOSS", "U0RANDO"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_metrics_move_when_decisions_happen(start_bot, fake_slack):
    bot = start_bot(APPROVERS=BOSS)
    bot.command("Post the menu", user=REQ)
    card = wait_card(fake_slack)
    before = scrape_when(bot, "approval_requests_pending", 1.0)
    assert metric(before, 'approval_decisions_total{outcome="approved"}') == 0.0
    assert metric(before, 'slack_ack_seconds_count{kind="command"}') == 1.0

    bot.click(ids.APPROVE, card.approval_id, BOSS)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    after = scrape_when(bot, "approval_requests_pending", 0.0)
    assert metric(after, 'approval_decisions_total{outcome="approved"}') == 1.0
    assert metric(after, "approval_time_to_decision_seconds_count") == 1.0
    assert metric(after, 'slack_ack_seconds_count{kind="interaction"}') == 1.0
    deadline = time.monotonic() + 10
    while metric(bot.http.get("/metrics").text, "scheduler_last_tick_timestamp_seconds") == 0:
        assert time.monotonic() < deadline, "the scheduler never ticked"
        time.sleep(0.2)
    assert "slack_api_errors_total" in after
