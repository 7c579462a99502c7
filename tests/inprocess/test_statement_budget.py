"""The statement budget of a decision (issue 21)."""

from __future__ import annotations

import pytest

from bot.slack.blocks import card as card_ids
from tests.support.cards import wait_card
from tests.support.statements import counting

OURS = 8


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_plain_approve_stays_within_its_statement_budget(bot_in_process, fake_slack):
    with counting() as statements:
        bot = bot_in_process()
        bot.command("Draft an announcement that the VPN is down tonight")
        card = wait_card(fake_slack)
        bot.settle()

        statements.recording = True
        assert bot.click(card_ids.APPROVE, card.approval_id, "U0REQ").status_code == 200
        fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
        bot.settle()
        statements.recording = False
    print(statements.report())
    assert len(statements.ours) <= OURS, statements.report()
