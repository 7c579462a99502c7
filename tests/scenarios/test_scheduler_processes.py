"""The scheduler across real bot processes: several workers, and a restart after an outage.

These use real (short) durations, and wait on what the bots show (cards, their scheduler's
last tick) rather than for a fixed time; a deadline that must pass while a bot is down is moved
into the past in the database. The ordering and retry details are covered with a
controlled clock in tests/test_scheduler.py.
"""

from __future__ import annotations

import time

import pytest

from bot.slack.blocks import card as ids
from bot.store.db import open_database
from bot.store.db.base import ACK_WINDOW
from tests.support.cards import blocks_text, has_buttons, wait_cards, wait_shown
from tests.support.faults import cards_recorded, more_ticks

FAST = {
    "REMIND_AFTER": "2s",
    "ESCALATE_AFTER": "3s",
    "ESCALATE_TO": "U0ONCALL",
    "ESCALATION_CHANNEL": "C0ESC",
    "EXPIRE_AFTER": "5s",
    "SCHEDULER_TICK": "1",
}


def _wait_until(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_processes_remind_escalate_and_expire_once(start_bot, fake_slack):
    first, second = start_bot(**FAST), start_bot(**FAST)
    for n in range(4):
        (first if n % 2 else second).command(f"Outage note {n}", user="U0REQ")
    cards = wait_cards(fake_slack, 4)

    def all_expired():
        return all(
            "Expired after 5s" in blocks_text(fake_slack.message(c.channel, c.ts)["blocks"])
            for c in cards
        )

    _wait_until(all_expired)
    more_ticks([first, second])  # a few more ticks on both processes: nothing may happen twice
    escalations = [
        c for c in fake_slack.calls("chat.postMessage") if c.ok and c.params["channel"] == "C0ESC"
    ]
    assert len(escalations) == 4
    digests = [
        c.params["text"]
        for c in fake_slack.calls("chat.postMessage")
        if c.ok and "requests are waiting" in c.params["text"]
    ]
    for card in cards:
        assert not has_buttons(fake_slack.message(card.channel, card.ts))
        thread = [m["text"] for m in fake_slack.replies(card.channel, card.ts)]
        # One reminder: in its thread, or (due with others in its channel) in one digest.
        listed = sum(card.ts.replace(".", "") in d for d in digests)
        assert len([t for t in thread if "waiting" in t]) + listed == 1, (thread, digests)
        assert len([t for t in thread if "Rejected" in t]) == 1, thread  # one outcome
        assert sum(card.ts.replace(".", "") in e.params["text"] for e in escalations) == 1
    posted = [
        c for c in fake_slack.calls("chat.postMessage") if c.params["text"].startswith("Draft:")
    ]
    assert posted == []


# SQLite: on both databases with the bot in this process (tests/inprocess/test_restart.py).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_overdue_expiry_wins_over_a_late_click_after_restart(start_bot, fake_slack, database_url):
    bot = start_bot(EXPIRE_AFTER="3s", REMIND_AFTER="off", SCHEDULER_TICK="30")
    bot.command("Reboot the VPN concentrator", user="U0REQ")
    card = wait_cards(fake_slack, 1)[0]
    cards_recorded(database_url, [card.approval_id])
    bot.kill()
    # The deadline, and the ack window after it, pass while the bot is down: moved into the
    # past rather than waited for.
    db = open_database(database_url)
    try:
        db.execute(
            "UPDATE jobs SET due_at = %(due)s WHERE approval_id = %(id)s AND kind = 'expire'",
            {"due": time.time() - 1 - ACK_WINDOW, "id": card.approval_id},
        )
    finally:
        db.close()

    again = start_bot(EXPIRE_AFTER="3s", REMIND_AFTER="off", SCHEDULER_TICK="30")
    again.click(ids.APPROVE, card.approval_id, "U0REQ")
    note = fake_slack.wait_for("chat.postEphemeral")[0].params
    assert "Expired after 3s — rejected automatically" in note["text"]
    # The expiry is carried out in the worker pool: the card shows it once that is done.
    wait_shown(fake_slack, card, "Expired after 3s")
    assert not has_buttons(fake_slack.message(card.channel, card.ts))
    posted = [c for c in fake_slack.calls("chat.postMessage") if "Reboot" in c.params["text"]]
    assert posted == []
