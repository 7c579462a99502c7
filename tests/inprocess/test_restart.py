"""A bot that starts where another left off, with the bot in this process, on both databases:
what the last one left half done (a claimed decision, a click it had taken, a click acked just
before a deadline, a deadline that passed while nobody ran) is finished once, as it should be.

The first bot stops, the database is left as a crash at that moment would have left it, and a
second bot starts on it and runs the recovery sweep ``python -m bot`` runs first
(:meth:`~tests.support.inprocess_bot.InProcessBot.restarted`). The same after a real ``kill -9``
of the bot's process: tests/scenarios/test_exactly_once.py and test_scheduler_processes.py.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from bot.domain.models import Decision
from bot.slack.blocks import card as ids
from bot.store.db import open_database
from bot.store.db.base import ACK_WINDOW
from bot.store.repository import Store
from tests.support.cards import blocks_text, current, has_buttons, wait_card, wait_shown
from tests.support.faults import Killed, killed_after
from tests.support.races import draft_posts

REQ, ALICE, BOB = "U0REQ", "U0ALICE", "U0BOB"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


def card_then_stop(bot_in_process, fake_slack, text: str, **env: str):
    """Start a run, wait until its card is posted and recorded, then stop the bot."""
    bot = bot_in_process(**env)
    bot.command(text, user=REQ)
    card = wait_card(fake_slack)
    bot.settle()  # the card's ts is stored: what the crash in the scenario waits for too
    bot.stop()
    return card


def test_a_pending_request_survives_a_restart(bot_in_process, fake_slack):
    card = card_then_stop(bot_in_process, fake_slack, "Remind everyone about the retro")

    again = bot_in_process().restarted()
    again.click(ids.APPROVE, card.approval_id, REQ)
    fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("text") == "Draft: Remind everyone about the retro",
    )
    again.settle()
    assert not has_buttons(current(fake_slack, card))
    assert len(fake_slack.calls("chat.postMessage")) == 3  # the card, the draft, the report
    assert len([c for c in fake_slack.calls("chat.postMessage") if "blocks" in c.params]) == 1


def test_claimed_but_unapplied_decision_is_finished_after_restart(
    bot_in_process, fake_slack, database_url, clock
):
    """The bot died between claiming a decision and resuming the graph."""
    card = card_then_stop(bot_in_process, fake_slack, "Publish the changelog")
    db = open_database(database_url)
    try:
        claimed = Store(db, clock).claim(card.approval_id, Decision("approve", REQ))
        assert claimed is not None
    finally:
        db.close()

    again = bot_in_process().restarted()
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Publish the changelog"
    )
    again.click(ids.APPROVE, card.approval_id, REQ)  # a late click changes nothing
    again.settle()
    [note] = fake_slack.calls("chat.postEphemeral")
    assert note.params["text"].startswith("Nothing changed: this request was already decided.")
    assert len(draft_posts(fake_slack, "Draft: Publish the changelog")) == 1
    assert not has_buttons(current(fake_slack, card))


def test_an_acked_click_whose_claim_won_before_a_crash_is_finished_without_a_refusal(
    bot_in_process, fake_slack, database_url, clock
):
    """The bot died after a recorded click won its claim, before it closed the inbox row: the
    next bot finishes the decision and does not tell the clicker it was "already decided"."""
    card = card_then_stop(bot_in_process, fake_slack, "Publish the roadmap")
    db = open_database(database_url)
    try:
        store = Store(db, clock)
        origin = f"message:{card.channel}:{card.ts}"
        click = Decision("approve", REQ, origin=origin)
        # Recorded, and taken under a lease, by the bot that died (as every click is).
        entry = store.receive_click(card.approval_id, click, card.channel, lease=0.0).entry.id
        assert store.claim(card.approval_id, replace(click, receipt=entry)) is not None
    finally:
        db.close()

    bot_in_process().restarted()
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Publish the roadmap"
    )
    assert fake_slack.calls("chat.postEphemeral") == []
    assert len(draft_posts(fake_slack, "Draft: Publish the roadmap")) == 1
    assert not has_buttons(current(fake_slack, card))
    assert "Approved* by <@U0REQ>" in blocks_text(current(fake_slack, card)["blocks"])


def test_a_click_acked_before_the_deadline_beats_the_expiry_after_a_restart(
    bot_in_process, fake_slack, database_url, clock
):
    """Approve was acknowledged a second before the deadline, then the bot died; the next one
    starts after the deadline and ticks: the person's decision stands, not the expiry."""
    env = {"EXPIRE_AFTER": "4s", "REMIND_AFTER": "off"}
    card = card_then_stop(bot_in_process, fake_slack, "Publish the minutes", **env)
    db = open_database(database_url)
    try:
        [expiry] = [j for j in Store(db, clock).jobs_for(card.approval_id) if j.kind == "expire"]
        just_before = Store(db, lambda: expiry.due_at - 1)
        click = Decision("approve", REQ, origin=f"message:{card.channel}:{card.ts}")
        just_before.add_inbox(card.approval_id, click, card.channel)
    finally:
        db.close()
    clock.advance(10)  # the deadline passed while no bot ran

    again = bot_in_process(**env).restarted()
    again.tick_until(
        lambda: not has_buttons(current(fake_slack, card)), "decide the request", advance=1
    )
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Publish the minutes"
    )
    again.tick(10)  # the deadline's job, if it were still there, would be carried out now
    again.settle()
    shown = blocks_text(current(fake_slack, card)["blocks"])
    assert "Approved* by <@U0REQ>" in shown and "Expired" not in shown
    assert fake_slack.calls("chat.postEphemeral") == []


def test_overdue_expiry_wins_over_a_late_click_after_restart(bot_in_process, fake_slack, clock):
    """The deadline passed while no bot ran; the first thing the next one hears is a click:
    the expiry (reject), not the click, decides."""
    env = {"EXPIRE_AFTER": "3s", "REMIND_AFTER": "off"}
    card = card_then_stop(bot_in_process, fake_slack, "Reboot the VPN concentrator", **env)
    clock.advance(3 + ACK_WINDOW)

    again = bot_in_process(**env)  # no tick: the click itself finds the deadline passed
    again.click(ids.APPROVE, card.approval_id, REQ)
    [note] = fake_slack.wait_for("chat.postEphemeral")
    assert "Expired after 3s — rejected automatically" in note.params["text"]
    # The expiry is carried out in the worker pool: the card shows it once that is done.
    wait_shown(fake_slack, card, "Expired after 3s")
    again.settle()
    assert not has_buttons(fake_slack.message(card.channel, card.ts))
    posted = [c for c in fake_slack.calls("chat.postMessage") if "Reboot" in c.params["text"]]
    assert posted == []


def audited(bot, thread_id: str) -> list[tuple[str, str]]:
    return [(e.event, e.actor) for e in bot.deps.engine.journal.audit.for_run(thread_id)]


def quorum_policy(tmp_path: Path) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(f"graphs: {{draft: {{approvers: [{ALICE}, {BOB}], quorum: 2}}}}\n")
    return str(path)


def test_a_quorum_completed_just_before_a_crash_is_audited_and_its_clicker_not_told_off(
    bot_in_process, fake_slack, tmp_path, monkeypatch
):
    """The bot died as the vote that completes a quorum (and claims the request) committed:
    the vote's transaction wrote the decision's audit event and closed the click, as a single
    click's claim does, so the next bot only carries it out."""
    env = {"POLICY_FILE": quorum_policy(tmp_path), "REMIND_AFTER": "off"}
    bot = bot_in_process(**env)
    bot.command("Wire the quarterly payment", user=REQ)
    card = wait_card(fake_slack)
    bot.settle()
    assert bot.click(ids.APPROVE, card.approval_id, ALICE).status_code == 200  # 1 of 2
    bot.settle()
    assert bot.deps is not None
    killed_after(monkeypatch, bot.deps.store, "vote", lambda ballot: ballot.outcome == "decided")
    assert bot.click(ids.APPROVE, card.approval_id, BOB).status_code == 200  # 2 of 2
    bot.settle()
    bot.stop()
    monkeypatch.undo()

    again = bot_in_process(**env).restarted()
    fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text") == "Draft: Wire the quarterly payment"
    )
    again.tick(advance=61)
    again.settle()
    assert len(draft_posts(fake_slack, "Draft: Wire the quarterly payment")) == 1
    assert again.deps is not None
    approval = again.deps.store.get_approval(card.approval_id)
    assert approval is not None
    events = audited(again, approval.thread_id)
    assert events.count(("approved", BOB)) == 1 and ("executed", "bot") in events
    told_bob = [c for c in fake_slack.calls("chat.postEphemeral") if c.params["user"] == BOB]
    assert told_bob == []  # their own click won: not "already decided"


def test_a_cancel_committed_just_before_a_crash_is_audited(bot_in_process, fake_slack, monkeypatch):
    """The bot died as ``/agent cancel``'s transaction (the run and its request closed)
    committed: the request's cancel was audited in it, and the next bot redraws its card and
    says in the run's thread that it was cancelled, once."""
    card = card_then_stop(bot_in_process, fake_slack, "Email the whole company")
    bot = bot_in_process()
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(card.approval_id)
    run = bot.deps.store.get_run(approval.thread_id) if approval else None
    assert run is not None
    killed_after(monkeypatch, bot.deps.store, "cancel_run")
    with pytest.raises(Killed):
        bot.deps.operations.control.cancel(run, REQ)
    bot.stop()
    monkeypatch.undo()

    again = bot_in_process().restarted()
    again.tick(advance=61)
    again.settle()
    assert not has_buttons(current(fake_slack, card))  # the request was finished as cancelled
    assert audited(again, run.thread_id).count(("cancelled", REQ)) == 1
    said = [
        c for c in fake_slack.calls("chat.postMessage") if "was cancelled by" in c.params["text"]
    ]
    assert len(said) == 1 and said[0].params["thread_ts"] == card.ts  # told in its thread
    again.tick(advance=61)  # another sweep says nothing more
    again.settle()
    assert (
        len(
            [c for c in fake_slack.calls("chat.postMessage") if "was cancelled" in c.params["text"]]
        )
        == 1
    )
