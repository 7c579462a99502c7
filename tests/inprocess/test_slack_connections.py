"""The bot keeps its Slack connections: decision after decision, its Web API calls go on the
few connections it already has (bot.slack.keepalive), as they would to slack.com over TLS."""

from __future__ import annotations

import pytest

from bot.slack.blocks import card as card_ids
from tests.support.cards import wait_cards


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_decisions_reuse_the_connections_of_the_first(bot_in_process, fake_slack):
    bot = bot_in_process()
    texts = [f"Draft an announcement number {n}" for n in range(6)]
    for text in texts:
        bot.command(text)
    cards = wait_cards(fake_slack, len(texts))
    bot.settle()
    first = cards[0]
    bot.click(card_ids.APPROVE, first.approval_id, "U0REQ", channel=first.channel, ts=first.ts)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == first.ts)
    bot.settle()
    after_one = fake_slack.connections
    calls_before = len(fake_slack.calls())

    for card in cards[1:]:
        bot.click(card_ids.APPROVE, card.approval_id, "U0REQ", channel=card.channel, ts=card.ts)
        fake_slack.wait_for(
            "chat.postMessage", lambda c, ts=card.ts: c.params.get("thread_ts") == ts
        )
        bot.settle()

    calls = len(fake_slack.calls()) - calls_before
    assert calls >= 3 * (len(cards) - 1)  # each: the card's update, the draft, the report
    assert fake_slack.connections <= after_one + 1, (after_one, fake_slack.connections, calls)
