"""Looking after runs from Slack: /agent pending, status, cancel and audit; the audit export;
and the metrics moving as decisions happen. Over signed requests to the real bot."""

from __future__ import annotations

import re
import time

import pytest

from bot.slack.blocks import card as ids
from tests.support.cards import (
    wait_card,
)

REQ, BOSS, RANDO = "U0REQ", "U0BOSS", "U0RANDO"


def _answer(fake_slack, bot, text: str, user: str = REQ) -> str:
    """Type ``/agent <text>``: the ack is empty, the answer comes on the response_url."""
    before = len(fake_slack.calls("response_url"))
    ack = bot.command(text, user=user)
    assert ack.status_code == 200 and not ack.content, ack.content
    posted = fake_slack.wait_for("response_url", count=before + 1)[before]
    assert posted.params["response_type"] == "ephemeral"
    return posted.params["text"]


def _settled_answer(fake_slack, bot, text: str, user: str, unless: str) -> str:
    """The answer once the bot has caught up (it records a card's ts just after posting it)."""
    deadline = time.monotonic() + 10
    while unless in (answer := _answer(fake_slack, bot, text, user)):
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)
    return answer


def _run_id(fake_slack, card) -> str:
    match = re.search(r"Run `([0-9a-f]{8})`", card.text)
    assert match, card.text
    return match.group(1)


def _metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _scrape_when(bot, name: str, value: float, timeout: float = 10) -> str:
    """The scrape once ``name`` reads ``value``: gauges read from the database are refreshed in
    the background (every second here), never at the scrape."""
    deadline = time.monotonic() + timeout
    while _metric(text := bot.http.get("/metrics").text, name) != value:
        assert time.monotonic() < deadline, f"{name} never read {value}:\n{text}"
        time.sleep(0.1)
    return text


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_metrics_move_when_decisions_happen(start_bot, fake_slack):
    bot = start_bot(APPROVERS=BOSS)
    bot.command("Post the menu", user=REQ)
    card = wait_card(fake_slack)
    before = _scrape_when(bot, "approval_requests_pending", 1.0)
    assert _metric(before, 'approval_decisions_total{outcome="approved"}') == 0.0
    assert _metric(before, 'slack_ack_seconds_count{kind="command"}') == 1.0

    bot.click(ids.APPROVE, card.approval_id, BOSS)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    after = _scrape_when(bot, "approval_requests_pending", 0.0)
    assert _metric(after, 'approval_decisions_total{outcome="approved"}') == 1.0
    assert _metric(after, "approval_time_to_decision_seconds_count") == 1.0
    assert _metric(after, 'slack_ack_seconds_count{kind="interaction"}') == 1.0
    deadline = time.monotonic() + 10
    while _metric(bot.http.get("/metrics").text, "scheduler_last_tick_timestamp_seconds") == 0:
        assert time.monotonic() < deadline, "the scheduler never ticked"
        time.sleep(0.2)
    assert "slack_api_errors_total" in after
