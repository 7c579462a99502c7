"""A decision happens once: two bot processes, and a real crash (kill -9) of the bot's process.

The crash tests run on SQLite: PostgreSQL's side of a kill -9 is what test_crash_chaos does two
hundred times over. What each restart finishes is also checked on both databases with the bot in
this process (tests/inprocess/test_restart.py), and racing clicks and people in
tests/inprocess/test_exactly_once.py."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from urllib.parse import urlencode

import pytest

from bot.domain.models import Decision
from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.store.db import open_database
from bot.store.repository import Store
from tests.support import slack_requests as sr
from tests.support.cards import (
    blocks_text,
    current,
    has_buttons,
    wait_card,
    wait_cards,
)
from tests.support.faults import leftovers
from tests.support.races import draft_posts, race, wait_card_recorded

REQ, BOSS, BOSS2, RANDO = "U0REQ", "U0BOSS", "U0BOSS2", "U0RANDO"


def _settle(database_url: str, timeout: float = 45) -> None:
    """Until the database shows nothing half done (every click, decision, effect and run
    finished), so that a second (wrong) outcome would have shown up. A click whose first
    attempt failed (a busy machine) is tried again once its lease (30 s) ran out: hence 45 s."""
    deadline = time.monotonic() + timeout
    while left := leftovers(database_url):
        assert time.monotonic() < deadline, f"still half done: {left}"
        time.sleep(0.05)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_bot_processes_decide_once(start_bot, fake_slack, database_url):
    first = start_bot(APPROVERS=f"{BOSS},{BOSS2}")
    second = start_bot(APPROVERS=f"{BOSS},{BOSS2}")
    for n in range(3):
        first.command(f"Announcement {n}", user=REQ)
    cards = wait_cards(fake_slack, 3)
    actions = []
    for card in cards:
        for bot in (first, second) * 3:
            actions.append(lambda b=bot, c=card: b.click(ids.APPROVE, c.approval_id, BOSS))
            actions.append(
                lambda b=bot, c=card: b.submit(
                    modals.REJECT, c.approval_id, BOSS2, {"reason": None}
                )
            )
    responses = race(actions)
    assert all(r.status_code == 200 for r in responses)
    fake_slack.wait_for("chat.update", count=3)
    _settle(database_url)
    for n, card in enumerate(cards):
        updates = [u for u in fake_slack.calls("chat.update") if u.params["ts"] == card.ts]
        assert len(updates) == 1
        assert len(fake_slack.replies(card.channel, card.ts)) == 1
        approved = "Approved* by" in blocks_text(current(fake_slack, card)["blocks"])
        text = next(t for t in (f"Draft: Announcement {i}" for i in range(3)) if t in card.text)
        assert len(draft_posts(fake_slack, text)) == (1 if approved else 0), n


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pending_approval_survives_kill_9(start_bot, fake_slack, database_url):
    card = card_then_crash(start_bot, fake_slack, database_url, "Remind everyone about the retro")

    again = start_bot()
    again.click(ids.APPROVE, card.approval_id, REQ)
    fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("text") == "Draft: Remind everyone about the retro",
    )
    fake_slack.wait_for("chat.update")
    assert not has_buttons(current(fake_slack, card))
    assert len(fake_slack.wait_for("chat.postMessage", lambda c: "blocks" in c.params)) == 1


def card_then_crash(start_bot, fake_slack, database_url: str, text: str, **env: str):
    """Start a run, wait until its card is posted and recorded, then kill -9 the bot."""
    bot = start_bot(**env)
    bot.command(text, user=REQ)
    card = wait_card(fake_slack)
    wait_card_recorded(database_url, card.approval_id)
    bot.kill()
    return card


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_claimed_but_unapplied_decision_is_finished_after_restart(
    start_bot, fake_slack, database_url
):
    """The bot died between claiming a decision and resuming the graph."""
    card = card_then_crash(start_bot, fake_slack, database_url, "Publish the changelog")

    db = open_database(database_url)
    try:
        claimed = Store(db, time.time).claim(card.approval_id, Decision("approve", REQ))
        assert claimed is not None
    finally:
        db.close()

    again = start_bot()
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Publish the changelog"
    )
    again.click(ids.APPROVE, card.approval_id, REQ)  # a late click changes nothing
    fake_slack.wait_for("chat.postEphemeral")
    _settle(database_url)
    assert len(draft_posts(fake_slack, "Draft: Publish the changelog")) == 1


def _click_from(approval_id: str, channel: str, ts: str, blocks: list) -> bytes:
    """A click on a button naming ``approval_id``, sent from the message (channel, ts, blocks)
    Slack says it was on."""
    payload = sr.click_payload(ids.APPROVE, approval_id, REQ, channel, ts)
    payload["message"] = {"ts": ts, "type": "message", "blocks": blocks}
    return urlencode({"payload": json.dumps(payload)}).encode()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_acked_click_whose_claim_won_before_a_crash_is_finished_without_a_refusal(
    start_bot, fake_slack, database_url
):
    """The bot died after a recorded click won its claim, before it closed the inbox row: the
    next process finishes the decision and does not tell the clicker it was "already decided"."""
    card = card_then_crash(start_bot, fake_slack, database_url, "Publish the roadmap")

    db = open_database(database_url)
    try:
        store = Store(db, time.time)
        origin = f"message:{card.channel}:{card.ts}"
        click = Decision("approve", REQ, origin=origin)
        # Recorded, and taken under a lease, by the process that died (as every click is).
        entry = store.receive_click(card.approval_id, click, card.channel, lease=0.0).entry.id
        assert store.claim(card.approval_id, replace(click, receipt=entry)) is not None
    finally:
        db.close()

    start_bot()
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Publish the roadmap"
    )
    _settle(database_url)
    assert fake_slack.calls("chat.postEphemeral") == []
    assert len(draft_posts(fake_slack, "Draft: Publish the roadmap")) == 1
    assert not has_buttons(current(fake_slack, card))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_click_acked_before_the_deadline_beats_the_expiry_after_a_restart(
    start_bot, fake_slack, database_url
):
    """Approve was acknowledged a second before the deadline, then the bot died; it comes back
    after the deadline: the person's decision stands, not the expiry."""
    card = card_then_crash(
        start_bot,
        fake_slack,
        database_url,
        "Publish the minutes",
        EXPIRE_AFTER="4s",
        REMIND_AFTER="off",
    )

    db = open_database(database_url)
    try:
        store = Store(db, time.time)
        [expiry] = [j for j in store.jobs_for(card.approval_id) if j.kind == "expire"]
        # The deadline passed while the bot was down: moved into the past rather than waited
        # for, and the click acked a second before it.
        due = time.time() - 1
        db.execute(
            "UPDATE jobs SET due_at = %(due)s WHERE id = %(id)s", {"due": due, "id": expiry.id}
        )
        just_before = Store(db, lambda: due - 1)
        click = Decision("approve", REQ, origin=f"message:{card.channel}:{card.ts}")
        just_before.add_inbox(card.approval_id, click, card.channel)
    finally:
        db.close()

    start_bot(EXPIRE_AFTER="4s", REMIND_AFTER="off")
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Publish the minutes"
    )
    fake_slack.wait_for(
        "chat.update", lambda c: "Approved* by <@U0REQ>" in blocks_text(c.params["blocks"])
    )
    _settle(database_url)
    assert "Expired" not in blocks_text(current(fake_slack, card)["blocks"])
    assert fake_slack.calls("chat.postEphemeral") == []
