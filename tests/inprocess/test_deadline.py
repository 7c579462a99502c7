"""The deadline is the deadline: a click received at it or after it loses to the expiry, however
often the expiry has to be tried, and one received before it wins even if it is still being
written when the deadline passes; with the bot in this process on both databases and a clock
that moves only when the test moves it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from bot.domain.models import Decision
from bot.slack.blocks import card as ids
from bot.store.db.base import ACK_WINDOW
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
    # and is slow with it: the expiry (once the deadline's ack window is over) waits for it,
    # and is tried again later.
    clock.advance(deadline - 1 - clock.now)
    held = store.receive_click(
        card.approval_id,
        Decision("approve", EVE, origin=f"message:{card.channel}:{card.ts}"),
        card.channel,
        lease=30.0,
    )
    bot.tick(1 + ACK_WINDOW)
    bot.settle()
    assert store.get_approval(card.approval_id).pending
    store.finish_inbox(held.entry.id)  # Eve's click: refused, nothing changed

    # As the window closes (ACK_WINDOW past the deadline), before the expiry's next try, the
    # requester approves.
    bot.click(ids.APPROVE, card.approval_id, REQ)
    bot.settle()
    bot.tick_until(
        lambda: not store.get_approval(card.approval_id).pending, "the expiry", advance=30
    )
    approval = store.get_approval(card.approval_id)
    assert (approval.status, approval.decided_by) == ("expired", "scheduler")
    [expiry] = [j for j in store.jobs_for(card.approval_id) if j.kind == "expire"]
    assert expiry.due_at == deadline  # the card's "Expires" still says when it did


def test_a_click_received_at_the_deadline_is_late_and_the_expiry_comes_after_the_ack_window(
    bot_in_process, fake_slack, clock
):
    bot, card, deadline = _waiting(bot_in_process, fake_slack)
    store = bot.deps.store
    clock.advance(deadline - clock.now)
    bot.click(ids.APPROVE, card.approval_id, REQ)
    bot.settle()
    # Late, so not counted; but it does not expire the request either: a click received
    # before the deadline may still be being written, and that one would win.
    assert store.get_approval(card.approval_id).pending
    assert store.earlier_clicks(card.approval_id, deadline + 1) == []  # answered and closed
    told = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params.get("user") == REQ)
    assert "deadline passed" in told[0].params["text"]
    assert f"<!date^{int(deadline)}^" in told[0].params["text"]

    bot.tick(ACK_WINDOW - 0.5)  # the expiry waits out the window...
    assert store.get_approval(card.approval_id).pending
    bot.tick(0.5)  # ... and then decides
    bot.settle()
    approval = store.get_approval(card.approval_id)
    assert (approval.status, approval.decided_by) == ("expired", "scheduler")


@pytest.mark.parametrize("past", [0.0, ACK_WINDOW + 5], ids=["at-the-deadline", "expiry-behind"])
def test_a_form_asked_for_once_the_deadline_passed_is_not_opened(
    bot_in_process, fake_slack, clock, past
):
    """Edit (or any button that opens a form) at or after the deadline: what the form would
    send is late, so it is not opened, and the person is told the request is being expired,
    whether the expiry is waiting out its window or the scheduler is behind."""
    bot, card, deadline = _waiting(bot_in_process, fake_slack)
    clock.advance(deadline - 1 - clock.now)  # a second before it, the form opens
    assert bot.click(ids.EDIT, card.approval_id, REQ).status_code == 200
    bot.settle()
    assert len(fake_slack.calls("views.open")) == 1

    clock.advance(deadline + past - clock.now)
    assert bot.click(ids.EDIT, card.approval_id, REQ).status_code == 200
    bot.settle()
    assert len(fake_slack.calls("views.open")) == 1  # not opened again
    told = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params.get("user") == REQ)
    assert "deadline passed" in told[0].params["text"]
    assert bot.deps.store.get_approval(card.approval_id).pending


def test_a_click_received_before_the_deadline_wins_though_its_write_ends_after_it(
    bot_in_process, fake_slack, clock, monkeypatch
):
    bot, card, deadline = _waiting(bot_in_process, fake_slack)
    store = bot.deps.store
    # Half a second before the deadline the requester clicks Approve, and the database is slow
    # to take the click's write (the bot stamps it received, then writes it before the ack).
    stamped, written = _stall_inbox_writes(bot.deps.db, monkeypatch)
    clock.advance(deadline - 0.5 - clock.now)
    with ThreadPoolExecutor(1) as pool:
        acked = pool.submit(bot.click, ids.APPROVE, card.approval_id, REQ)
        assert stamped.wait(10), "the click never reached its write"
        # The deadline passes while the write is still under way; the scheduler ticks.
        bot.tick(ACK_WINDOW - 1)
        assert store.get_approval(card.approval_id).pending
        written.set()
        assert acked.result(10).status_code == 200
    bot.settle()
    approval = store.get_approval(card.approval_id)
    assert (approval.status, approval.decided_by) == ("approved", REQ)
    bot.tick(30)  # the expiry was closed with the request: nothing more happens
    bot.settle()
    assert store.get_approval(card.approval_id).status == "approved"
    assert not fake_slack.calls("chat.postEphemeral")  # the requester was told of nothing lost


def _stall_inbox_writes(db: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any]:
    """Writes of a click into the inbox wait until the second event is set; the first is set
    once one has been stamped and is waiting."""
    stamped, written = threading.Event(), threading.Event()

    def stalled(write: Callable[..., Any]) -> Callable[..., Any]:
        def held(sql: str, params: Any = None, undo: str | None = None) -> Any:
            if "INSERT INTO inbox" in sql:
                stamped.set()
                assert written.wait(10), "the test never let the write through"
            return write(sql, params, undo)

        return held

    for name in ("execute_quick", "fetch_one_quick"):
        monkeypatch.setattr(db, name, stalled(getattr(db, name)))
    return stamped, written


def test_an_api_decision_at_the_deadline_is_refused_and_the_expiry_decides(
    bot_in_process, fake_slack, clock
):
    token = "req-token-0123456789abcdef"
    bot = bot_in_process(EXPIRE_AFTER="60s", REMIND_AFTER="off", API_TOKENS=f"req:{token}:{REQ}")
    bot.command("Publish the minutes", user=REQ)
    card = wait_card(fake_slack)
    bot.settle()
    store = bot.deps.store
    [expiry] = [j for j in store.jobs_for(card.approval_id) if j.kind == "expire"]
    clock.advance(expiry.due_at + 1 - clock.now)
    run = store.get_approval(card.approval_id).thread_id
    late = bot.http.post(
        f"/api/runs/{run}/decision",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert late.status_code == 409 and "deadline passed" in late.json()["error"]
    assert store.get_approval(card.approval_id).pending
    bot.tick_until(
        lambda: not store.get_approval(card.approval_id).pending, "the expiry", advance=1
    )
    assert store.get_approval(card.approval_id).status == "expired"
    assert clock.now >= expiry.due_at + ACK_WINDOW
