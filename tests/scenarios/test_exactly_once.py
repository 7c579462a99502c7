"""A decision happens once: racing clicks, racing people, two bot processes, a crash."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from urllib.parse import urlencode

import pytest
from slack_sdk import WebClient

from bot.core.models import Decision
from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.store.db import open_database
from bot.store.repository import Store
from tests.support import slack_requests as sr
from tests.support.cards import (
    approval_id_of,
    blocks_text,
    current,
    has_buttons,
    wait_card,
    wait_cards,
)

REQ, BOSS, BOSS2, RANDO = "U0REQ", "U0BOSS", "U0BOSS2", "U0RANDO"


def _race(actions):
    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(lambda f: f(), actions))


def _draft_posts(fake_slack, text):
    return [c for c in fake_slack.calls("chat.postMessage") if c.params.get("text") == text]


def _settle(fake_slack, seconds=2.0):
    """Let background work finish, so that a second (wrong) outcome would have shown up."""
    time.sleep(seconds)


def test_racing_approve_and_reject_decide_once(start_bot, fake_slack):
    bot = start_bot(APPROVERS=f"{BOSS},{BOSS2}")
    bot.command("Tell the team lunch is here", user=REQ)
    card = wait_card(fake_slack)

    def approve(user):
        return lambda: bot.click(ids.APPROVE, card.approval_id, user)

    def reject(user):
        return lambda: bot.submit(modals.REJECT, card.approval_id, user, {"reason": "no"})

    responses = _race([approve(BOSS), reject(BOSS2), approve(BOSS2), reject(BOSS)] * 3)
    assert all(r.status_code == 200 for r in responses)
    fake_slack.wait_for("chat.update")
    _settle(fake_slack)

    updates = fake_slack.calls("chat.update")
    assert len(updates) == 1
    outcome = blocks_text(current(fake_slack, card)["blocks"])
    approved = "Approved* by" in outcome
    assert approved or "Rejected* by" in outcome
    assert len(_draft_posts(fake_slack, "Draft: Tell the team lunch is here")) == (
        1 if approved else 0
    )
    reports = fake_slack.replies(card.channel, card.ts)
    assert len(reports) == 1
    # Every loser hears who won, either as an ephemeral note or as an inline modal error.
    refusals = len(fake_slack.calls("chat.postEphemeral")) + sum(
        1 for r in responses if r.content and b"already decided" in r.content
    )
    assert refusals == len(responses) - 1


def test_same_user_double_click_resumes_once(start_bot, fake_slack):
    bot = start_bot()
    bot.command("Post the minutes", user=REQ)
    card = wait_card(fake_slack)
    _race([lambda: bot.click(ids.APPROVE, card.approval_id, REQ)] * 8)
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Post the minutes"
    )
    _settle(fake_slack)
    assert len(_draft_posts(fake_slack, "Draft: Post the minutes")) == 1
    assert len(fake_slack.calls("chat.update")) == 1
    assert len(fake_slack.wait_for("chat.postEphemeral", count=7)) == 7


# Who may decide is worked out in Python (bot/core/deciders.py) from APPROVERS and Slack's user
# groups
# before anything is claimed, and a refused click claims nothing: SQLite is enough here. The same
# reads, locks and claims on Postgres run in the other tests of this file and test_signoff.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_who_may_decide_fails_closed(start_bot, fake_slack):
    fake_slack.usergroups["S0APPROVE"] = [BOSS2]
    bot = start_bot(APPROVERS=f"{BOSS},S0APPROVE")
    bot.command("Rotate the on-call", user=BOSS)  # an approver asking for their own run
    card = wait_card(fake_slack)

    bot.click(ids.APPROVE, card.approval_id, RANDO)
    bot.click(ids.APPROVE, card.approval_id, BOSS)
    bot.click(ids.REJECT, card.approval_id, RANDO)
    notes = fake_slack.wait_for("chat.postEphemeral", count=3)
    by_user = {(n.params["user"], n.params["text"]) for n in notes}
    assert (
        RANDO,
        "Only <@U0BOSS> or members of <!subteam^S0APPROVE> can decide this request.",
    ) in by_user
    assert any(u == BOSS and "someone else" in t for u, t in by_user)
    assert fake_slack.calls("views.open") == []
    assert has_buttons(current(fake_slack, card))

    bot.click(ids.APPROVE, card.approval_id, BOSS2)  # a member of the approvers' user group
    fake_slack.wait_for("chat.update")
    assert "Approved* by <@U0BOSS2>" in blocks_text(current(fake_slack, card)["blocks"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # as above
def test_without_approvers_only_the_requester_decides(start_bot, fake_slack):
    bot = start_bot()
    bot.command("Say hello", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, RANDO)
    note = fake_slack.wait_for("chat.postEphemeral")[0].params
    assert note["user"] == RANDO and "Only <@U0REQ>" in note["text"]
    assert has_buttons(current(fake_slack, card))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_bot_processes_decide_once(start_bot, fake_slack):
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
    responses = _race(actions)
    assert all(r.status_code == 200 for r in responses)
    fake_slack.wait_for("chat.update", count=3)
    _settle(fake_slack, 3)
    for n, card in enumerate(cards):
        updates = [u for u in fake_slack.calls("chat.update") if u.params["ts"] == card.ts]
        assert len(updates) == 1
        assert len(fake_slack.replies(card.channel, card.ts)) == 1
        approved = "Approved* by" in blocks_text(current(fake_slack, card)["blocks"])
        text = next(t for t in (f"Draft: Announcement {i}" for i in range(3)) if t in card.text)
        assert len(_draft_posts(fake_slack, text)) == (1 if approved else 0), n


def wait_card_recorded(database_url, approval_id, timeout=10.0):
    """Until the bot has stored the posted card's ts: a crash between Slack's answer to
    chat.postMessage and that write is the one place a restart can post a second card."""
    db = open_database(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            approval = Store(db, time.time).get_approval(approval_id)
            if approval is not None and approval.ts is not None:
                return
            time.sleep(0.05)
        raise AssertionError(f"the bot never stored the ts of approval {approval_id}'s card")
    finally:
        db.close()


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
    _settle(fake_slack)
    assert len(_draft_posts(fake_slack, "Draft: Publish the changelog")) == 1


def test_click_while_the_card_is_still_being_posted_still_updates_it(start_bot, fake_slack):
    """Slack shows the card before the bot has stored its ts; an instant click must not leave
    a card with live buttons behind."""
    bot = start_bot()
    fake_slack.set_latency("chat.postMessage", 1.5)
    bot.command("Say hi fast", user=REQ)
    deadline = time.monotonic() + 20
    approval_id = None
    while approval_id is None and time.monotonic() < deadline:
        for call in fake_slack.calls("chat.postMessage"):
            approval_id = approval_id_of(call.params.get("blocks") or [])
        time.sleep(0.02)
    assert approval_id is not None
    # Answered while chat.postMessage is in flight, from the message Slack already shows (the
    # fake's first message gets this ts).
    bot.click(ids.APPROVE, approval_id, REQ, channel="C0REQ", ts="1700000000.000100")
    fake_slack.set_latency("chat.postMessage", 0)
    card = wait_card(fake_slack)
    fake_slack.wait_for("chat.update", timeout=20)
    final = current(fake_slack, card)
    assert not has_buttons(final)
    assert "Approved* by <@U0REQ>" in blocks_text(final["blocks"])


def _click_from(approval_id: str, channel: str, ts: str, blocks: list) -> bytes:
    """A click on a button naming ``approval_id``, sent from the message (channel, ts, blocks)
    Slack says it was on."""
    payload = sr.click_payload(ids.APPROVE, approval_id, REQ, channel, ts)
    payload["message"] = {"ts": ts, "type": "message", "blocks": blocks}
    return urlencode({"payload": json.dumps(payload)}).encode()


def test_a_button_naming_another_request_changes_neither_card(start_bot, fake_slack):
    bot = start_bot()
    bot.command("First note", user=REQ)
    bot.command("Second note", user=REQ)
    first, second = sorted(wait_cards(fake_slack, 2), key=lambda c: c.text)
    # Request 1's id, clicked on request 2's card (whose message shows request 2's buttons).
    response = bot.send(_click_from(first.approval_id, second.channel, second.ts, second.blocks))
    assert response.status_code == 200
    note = fake_slack.wait_for("chat.postEphemeral")[0].params
    assert "isn't on this request's card" in note["text"]
    _settle(fake_slack, 1.0)
    assert has_buttons(current(fake_slack, first)) and has_buttons(current(fake_slack, second))
    assert fake_slack.calls("chat.update") == []
    assert not _draft_posts(fake_slack, "Draft: First note")


def test_a_stale_copy_of_a_card_loses_its_buttons_and_points_at_the_current_one(
    start_bot, fake_slack
):
    """A crash between Slack posting a card and the bot recording it makes the card be posted
    again; the first copy, when clicked, is retired rather than left with live buttons."""
    bot = start_bot()
    bot.command("Copy note", user=REQ)
    card = wait_card(fake_slack)
    # The same card, as if posted once more before the crash: same blocks, another ts.
    slack = WebClient(token=fake_slack.bot_token, base_url=fake_slack.api_url)
    copy = slack.chat_postMessage(channel=card.channel, text="x", blocks=card.blocks)
    response = bot.send(_click_from(card.approval_id, card.channel, copy["ts"], card.blocks))
    assert response.status_code == 200
    fake_slack.wait_for("chat.update", lambda c: c.params["ts"] == copy["ts"])
    retired = fake_slack.message(card.channel, copy["ts"])
    assert not has_buttons(retired) and "out of date" in blocks_text(retired["blocks"])
    assert has_buttons(current(fake_slack, card))  # the real card is untouched, still pending


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
        entry = store.add_inbox(card.approval_id, click, card.channel)
        assert store.take_inbox(entry, lease=0.0) is not None  # taken by the process that died
        assert store.claim(card.approval_id, replace(click, receipt=entry)) is not None
    finally:
        db.close()

    start_bot()
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Publish the roadmap"
    )
    _settle(fake_slack)
    assert fake_slack.calls("chat.postEphemeral") == []
    assert len(_draft_posts(fake_slack, "Draft: Publish the roadmap")) == 1
    assert not has_buttons(current(fake_slack, card))


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
        just_before = Store(db, lambda: expiry.due_at - 1)
        click = Decision("approve", REQ, origin=f"message:{card.channel}:{card.ts}")
        just_before.add_inbox(card.approval_id, click, card.channel)
    finally:
        db.close()
    time.sleep(max(0.0, expiry.due_at + 1 - time.time()))  # the deadline has passed

    start_bot(EXPIRE_AFTER="4s", REMIND_AFTER="off")
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Publish the minutes"
    )
    fake_slack.wait_for(
        "chat.update", lambda c: "Approved* by <@U0REQ>" in blocks_text(c.params["blocks"])
    )
    _settle(fake_slack)
    assert "Expired" not in blocks_text(current(fake_slack, card)["blocks"])
    assert fake_slack.calls("chat.postEphemeral") == []
