"""The deadline is the deadline: a click received at it or after it loses to the expiry, however
often the expiry has to be tried, with the bot in this process on both databases and a clock
that moves only when the test moves it."""

from __future__ import annotations

import pytest

from bot.domain.models import Decision
from bot.slack.blocks import card as ids
from tests.support.cards import Card, wait_card
from tests.support.inprocess import Clock

REQ, EVE = "U0REQ", "U0EVE"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _waiting(bot_in_process, fake_slack) -> tuple[object, Card, float]:
    """A bot whose one request expires (rejected) 60 s after its card; and its deadline."""
    bot = bot_in_process(EXPIRE_AFTER="60s", REMIND_AFTER="off")
    bot.command("Publish the minutes", user=REQ)
    card = wait_card(fake_slack)
    bot.settle()
    [expiry] = [j for j in bot.deps.store.jobs_for(card.approval_id) if j.kind == "expire"]
    return bot, card, expiry.due_at


def test_a_click_after_the_deadline_cannot_win_while_the_expiry_is_tried_again(
    bot_in_process, fake_slack, clock
):
    bot, card, deadline = _waiting(bot_in_process, fake_slack)
    store = bot.deps.store
    # A second before the deadline another process takes a click (Eve's, who may not decide)
    # and is slow with it: the expiry at the deadline waits for it, and is tried again later.
    clock.advance(deadline - 1 - clock.now)
    held = store.receive_click(
        card.approval_id,
        Decision("approve", EVE, origin=f"message:{card.channel}:{card.ts}"),
        card.channel,
        lease=30.0,
    )
    bot.tick(2)
    bot.settle()
    assert store.get_approval(card.approval_id).pending
    store.finish_inbox(held.entry.id)  # Eve's click: refused, nothing changed

    # Three seconds past the deadline, before the expiry's next try, the requester approves.
    bot.click(ids.APPROVE, card.approval_id, REQ)
    bot.settle()
    bot.tick_until(
        lambda: not store.get_approval(card.approval_id).pending, "the expiry", advance=30
    )
    approval = store.get_approval(card.approval_id)
    assert (approval.status, approval.decided_by) == ("expired", "scheduler")
    [expiry] = [j for j in store.jobs_for(card.approval_id) if j.kind == "expire"]
    assert expiry.due_at == deadline  # the card's "Expires" still says when it did


def test_a_click_received_at_the_deadline_is_answered_at_once_and_the_expiry_wins(
    bot_in_process, fake_slack, clock
):
    bot, card, deadline = _waiting(bot_in_process, fake_slack)
    clock.advance(deadline - clock.now)
    bot.click(ids.APPROVE, card.approval_id, REQ)
    bot.settle()
    approval = bot.deps.store.get_approval(card.approval_id)
    assert (approval.status, approval.decided_by) == ("expired", "scheduler")
    assert bot.deps.store.earlier_clicks(card.approval_id, deadline + 1) == []
    told = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params.get("user") == REQ)
    assert "Expired after 1m" in told[0].params["text"]
