"""A decision happens once, with the bot in this process: racing clicks, racing people, stale
and forged buttons (two processes and crashes: tests/scenarios/test_exactly_once.py)."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import psycopg
import pytest
from slack_sdk import WebClient

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.slack.listeners import actions
from bot.slack.listeners.actions import NOT_RECORDED
from bot.slack.listeners.commands import NOT_STARTED
from tests.support import slack_requests as sr
from tests.support.cards import (
    approval_id_of,
    blocks_text,
    current,
    has_buttons,
    wait_card,
    wait_cards,
)
from tests.support.held import held_in_thread
from tests.support.lost import stalled_past_its_lease
from tests.support.races import draft_posts, race, wait_card_recorded

REQ, BOSS, BOSS2, RANDO = "U0REQ", "U0BOSS", "U0BOSS2", "U0RANDO"
DRAFT = "Draft: Remind everyone about the retro"


def test_racing_approve_and_reject_decide_once(bot_in_process, fake_slack):
    bot = bot_in_process(APPROVERS=f"{BOSS},{BOSS2}")
    bot.command("Tell the team lunch is here", user=REQ)
    card = wait_card(fake_slack)

    def approve(user):
        return lambda: bot.click(ids.APPROVE, card.approval_id, user)

    def reject(user):
        return lambda: bot.submit(modals.REJECT, card.approval_id, user, {"reason": "no"})

    responses = race([approve(BOSS), reject(BOSS2), approve(BOSS2), reject(BOSS)] * 3)
    assert all(r.status_code == 200 for r in responses)
    fake_slack.wait_for("chat.update")
    bot.settle()  # background work finished: a second (wrong) outcome would show now

    updates = fake_slack.calls("chat.update")
    assert len(updates) == 1
    outcome = blocks_text(current(fake_slack, card)["blocks"])
    approved = "Approved* by" in outcome
    assert approved or "Rejected* by" in outcome
    assert len(draft_posts(fake_slack, "Draft: Tell the team lunch is here")) == (
        1 if approved else 0
    )
    reports = fake_slack.replies(card.channel, card.ts)
    assert len(reports) == 1
    # Every loser hears who won, either as an ephemeral note or as an inline modal error.
    refusals = len(fake_slack.calls("chat.postEphemeral")) + sum(
        1 for r in responses if r.content and b"already decided" in r.content
    )
    assert refusals == len(responses) - 1


def test_same_user_double_click_resumes_once(bot_in_process, fake_slack):
    bot = bot_in_process()
    bot.command("Post the minutes", user=REQ)
    card = wait_card(fake_slack)
    race([lambda: bot.click(ids.APPROVE, card.approval_id, REQ)] * 8)
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Post the minutes"
    )
    bot.settle()  # background work finished: a second (wrong) outcome would show now
    assert len(draft_posts(fake_slack, "Draft: Post the minutes")) == 1
    assert len(fake_slack.calls("chat.update")) == 1
    assert len(fake_slack.wait_for("chat.postEphemeral", count=7)) == 7


# Who may decide is worked out in Python (bot/core/deciders.py) from APPROVERS and Slack's user
# groups
# before anything is claimed, and a refused click claims nothing: SQLite is enough here. The same
# reads, locks and claims on Postgres run in the other tests of this file and test_signoff.py.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_who_may_decide_fails_closed(bot_in_process, fake_slack):
    fake_slack.usergroups["S0APPROVE"] = [BOSS2]
    bot = bot_in_process(APPROVERS=f"{BOSS},S0APPROVE")
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
def test_without_approvers_only_the_requester_decides(bot_in_process, fake_slack):
    bot = bot_in_process()
    bot.command("Say hello", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, RANDO)
    note = fake_slack.wait_for("chat.postEphemeral")[0].params
    assert note["user"] == RANDO and "Only <@U0REQ>" in note["text"]
    assert has_buttons(current(fake_slack, card))


def card_then_crash(bot_in_process, fake_slack, database_url: str, text: str, **env: str):
    """Start a run, wait until its card is posted and recorded, then kill -9 the bot."""
    bot = bot_in_process(**env)
    bot.command(text, user=REQ)
    card = wait_card(fake_slack)
    wait_card_recorded(database_url, card.approval_id)
    bot.kill()
    return card


def test_click_while_the_card_is_still_being_posted_still_updates_it(bot_in_process, fake_slack):
    """Slack shows the card before the bot has stored its ts; an instant click must not leave
    a card with live buttons behind."""
    bot = bot_in_process()
    fake_slack.hold("chat.postMessage")  # the card's post stays in flight until released
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
    response = bot.click(ids.APPROVE, approval_id, REQ, channel="C0REQ", ts="1700000000.000100")
    assert response.status_code == 200
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [None]  # still in flight
    fake_slack.release("chat.postMessage")
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


def test_a_button_naming_another_request_changes_neither_card(bot_in_process, fake_slack):
    bot = bot_in_process()
    bot.command("First note", user=REQ)
    bot.command("Second note", user=REQ)
    first, second = sorted(wait_cards(fake_slack, 2), key=lambda c: c.text)
    # Request 1's id, clicked on request 2's card (whose message shows request 2's buttons).
    response = bot.send(_click_from(first.approval_id, second.channel, second.ts, second.blocks))
    assert response.status_code == 200
    note = fake_slack.wait_for("chat.postEphemeral")[0].params
    assert "isn't on this request's card" in note["text"]
    bot.settle()  # background work finished: a second (wrong) outcome would show now
    assert has_buttons(current(fake_slack, first)) and has_buttons(current(fake_slack, second))
    assert fake_slack.calls("chat.update") == []
    assert not draft_posts(fake_slack, "Draft: First note")


def test_a_stale_copy_of_a_card_loses_its_buttons_and_points_at_the_current_one(
    bot_in_process, fake_slack
):
    """A crash between Slack posting a card and the bot recording it makes the card be posted
    again; the first copy, when clicked, is retired rather than left with live buttons."""
    bot = bot_in_process()
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


# Told "nothing changed", and nothing changed -------------------------------------------------

ACK_WITHIN = 2.5  # seconds: an answer before Slack's 3 s, with room for the HTTP round trip


@contextmanager
def locked(database_url: str, table: str) -> Iterator[None]:
    """Another session holds a lock that makes writes to ``table`` wait, until the block ends:
    on PostgreSQL the lock a non-concurrent CREATE INDEX takes (reads go on, writes wait); on
    SQLite the one write lock, as any other writer (a second process, a prune) takes it."""

    @contextmanager
    def hold() -> Iterator[None]:
        if database_url.startswith("sqlite:///"):
            other = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
            try:
                other.execute("BEGIN IMMEDIATE")
                yield
                other.execute("ROLLBACK")
            finally:
                other.close()
        else:
            with psycopg.connect(database_url) as other:
                other.execute(f"LOCK TABLE {table} IN SHARE MODE")
                yield
                other.rollback()

    release, thread = held_in_thread(hold)
    try:
        yield
    finally:
        release.set()
        thread.join(10)


def test_a_click_answered_not_recorded_while_the_inbox_is_locked_is_never_carried_out(
    bot_in_process, fake_slack, database_url
):
    """The click's write before its ack waited on another session's lock for as long as the
    session's limit (30 s; SQLite's writer as long): Slack gave up at 3 s, Bolt handed the
    click to the catch-all ("I don't know that button; nothing changed"), and once the lock
    went the click was recorded and the draft posted. Now the write has a limit of its own
    inside Slack's 3 s: the person hears it was not recorded, and it never is."""
    bot = bot_in_process()
    bot.command("Draft the release note", user=REQ)
    card = wait_card(fake_slack)
    bot.settle()

    with locked(database_url, "inbox"):
        sent = time.monotonic()
        answer = bot.click(ids.APPROVE, card.approval_id, REQ)
        took = time.monotonic() - sent
    assert answer.status_code == 200
    assert took < ACK_WITHIN, f"answered after {took:.2f} s"
    fake_slack.wait_for("chat.postEphemeral", lambda c: c.params.get("text") == NOT_RECORDED)

    bot.settle()
    bot.restarted()  # the recovery sweep a next start makes: it finds no click to carry out
    assert bot.deps is not None
    assert bot.deps.db.fetch_one("SELECT count(*) AS n FROM inbox") == {"n": 0}
    approval = bot.deps.store.get_approval(card.approval_id)
    assert approval is not None and approval.status == "pending"
    assert draft_posts(fake_slack, "Draft: Draft the release note") == []
    assert not [t for t in _told(fake_slack) if t == actions.UNKNOWN_BUTTON]

    # The lock gone, the person tries again, and it is done, once.
    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    bot.settle()
    assert len(draft_posts(fake_slack, "Draft: Draft the release note")) == 1


def test_agent_answered_not_started_while_runs_is_locked_starts_nothing(
    bot_in_process, fake_slack, database_url
):
    """``/agent`` under a lock on ``runs``: answered 404 after 3 s, and the run started once the
    lock went (typed again: two runs). Now it is told at once that nothing was started."""
    bot = bot_in_process()
    with locked(database_url, "runs"):
        sent = time.monotonic()
        answer = bot.command("Draft the release note", user=REQ)
        took = time.monotonic() - sent
    assert answer.status_code == 200
    assert took < ACK_WITHIN, f"answered after {took:.2f} s"
    assert answer.json() == {"response_type": "ephemeral", "text": NOT_STARTED}

    bot.settle()
    bot.restarted()
    assert bot.deps is not None
    assert bot.deps.db.fetch_one("SELECT count(*) AS n FROM runs") == {"n": 0}
    assert fake_slack.calls("chat.postMessage") == []

    bot.command("Draft the release note", user=REQ)
    wait_card(fake_slack)
    bot.settle()
    assert len(fake_slack.calls("chat.postMessage")) == 1


def _told(fake_slack) -> list[str]:
    return [str(c.params.get("text")) for c in fake_slack.calls("chat.postEphemeral")]


def test_a_click_whose_first_attempt_failed_is_carried_out_within_seconds_without_a_sweep(
    bot_in_process, fake_slack
):
    """The database hiccuped as the click was worked on (after its ack): the same process tries
    it again a few seconds later, under the lease it holds, instead of leaving the person
    waiting for that lease to run out and a sweep (30 s and a tick, at best)."""
    bot = bot_in_process(REMIND_AFTER="off")
    bot.command("Remind everyone about the retro", user=REQ)
    card = wait_card(fake_slack)
    bot.settle()
    assert bot.deps is not None
    inbox = bot.deps.engine.inbox
    inbox.again_after = 0.2  # seconds, not the 5 s of production: the wait is not the point
    decide, failed = inbox.decide, []

    def hiccup(*args, **kwargs):
        if not failed:
            failed.append(True)
            raise psycopg.OperationalError("the database hiccuped")
        return decide(*args, **kwargs)

    inbox.decide = hiccup
    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == DRAFT, timeout=10)
    bot.settle()
    assert failed == [True]  # it did fail once
    assert len(draft_posts(fake_slack, DRAFT)) == 1
    assert not has_buttons(current(fake_slack, card))
    assert fake_slack.calls("chat.postEphemeral") == []  # nobody told "could not apply"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_click_taken_over_from_a_stalled_process_is_never_called_someone_elses(
    bot_in_process, fake_slack
):
    """One process took the click and stalled (a long GC pause, a swapped-out host) past its
    lease; another process's sweep took it over and carried it out. The first one wakes and
    goes on with its (stale) copy: it must not tell the person their own click found the
    request "already decided", "nothing changed" (it was their click that changed it)."""
    first = bot_in_process(REMIND_AFTER="off")
    second = bot_in_process(REMIND_AFTER="off")
    first.command("Remind everyone about the retro", user=REQ)
    card = wait_card(fake_slack)
    first.settle()
    with stalled_past_its_lease(first, second, card.approval_id, REQ):
        assert len(draft_posts(fake_slack, DRAFT)) == 1

    assert len(draft_posts(fake_slack, DRAFT)) == 1
    assert not has_buttons(current(fake_slack, card))
    assert _told(fake_slack) == []
