"""Forty people type /agent at the same moment, then all click Approve at the same moment: every
request is acked in time, and every card and every outcome appears exactly once."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.support.burst import describe, latency_summary, run_burst
from tests.support.cards import approval_id_of, blocks_text, current, has_buttons
from tests.support.faults import wait_quiet

N = 40
SLACK_DEADLINE = 3.0  # seconds: Slack shows the user an error for any later ack


@pytest.fixture
def database_url(tmp_path):
    """SQLite: the burst must be absorbed even by the single-writer database (see bench/ for
    Postgres figures)."""
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.mark.alone  # asserts every ack within Slack's 3 s
def test_forty_simultaneous_commands_and_clicks_are_acked_in_time_and_decided_once(
    start_bot, fake_slack, fake_openai, request, database_url
):
    bot = start_bot()
    burst = run_burst(bot.url, fake_slack, N)
    report = (
        f"{describe('/agent burst', burst.commands)}\n{describe('Approve burst', burst.clicks)}"
    )
    print(report)  # shown with -s or on failure; the p99s are also in the assertion messages
    for name, acks in (("agent", burst.commands), ("approve", burst.clicks)):
        p99 = round(latency_summary(acks)["p99"], 1)
        request.node.user_properties.append((f"{name}_ack_p99_ms", p99))  # for report plugins

    for name, acks in (("/agent", burst.commands), ("Approve", burst.clicks)):
        assert [a.status for a in acks] == [200] * N, f"{name}: {report}"
        p99 = latency_summary(acks)["p99"]
        slowest = max(a.seconds for a in acks)
        assert slowest < SLACK_DEADLINE, f"{name} ack p99 {p99:.1f} ms, max {slowest:.3f} s"

    wait_quiet(database_url)  # nothing under way: anything posted twice would show by now
    cards = Counter(
        approval_id_of(c.params.get("blocks") or [])
        for c in fake_slack.calls("chat.postMessage")
        if c.params.get("blocks")
    )
    assert sorted(cards.values()) == [1] * N and len(cards) == N
    assert {card.approval_id for card in burst.cards} == set(cards)

    outcomes = Counter(c.params.get("text") for c in fake_slack.calls("chat.postMessage"))
    assert [outcomes[f"Draft: {text}"] for text in burst.requests] == [1] * N
    assert len(fake_openai.requests) == N  # one model call per run: no run started twice

    for card in burst.cards:
        [report_reply] = fake_slack.replies(card.channel, card.ts)
        assert report_reply["text"].startswith("Approved.")
        message = current(fake_slack, card)
        assert not has_buttons(message), blocks_text(message["blocks"])
        assert "Approved* by" in blocks_text(message["blocks"])
