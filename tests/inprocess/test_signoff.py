"""Sign-off policies end to end, over signed requests: quorum, stages, request changes, and the
two-person graph, with the bot in this process. The races run on PostgreSQL with two bots
sharing it (each its own engine, pools and worker; two processes racing: tests/scenarios)."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.store.db import open_database
from bot.store.repository import Store
from tests.support.byo import buttons, ran, report
from tests.support.cards import current, has_buttons, wait_card, wait_cards
from tests.support.cards import shown as _shown
from tests.support.cards import told as _told
from tests.support.cards import wait_shown as _wait_shown
from tests.support.lost import stalled_past_its_lease

REQ, A, B, C = "U0REQ", "U0ALICE", "U0BOB", "U0CAROL"
LEADS = "S0LEADS"


def _policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


def _race(actions):
    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(lambda f: f(), actions))


def _posts(fake_slack, text: str) -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if c.params.get("text") == text]


def _posted_once(fake_slack, text: str, *bots) -> None:
    """The text is posted, and, once every bot has finished what it was doing, still only
    once."""
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == text)
    for bot in bots:
        bot.settle()
    assert len(_posts(fake_slack, text)) == 1


def _approval(database_url: str, approval_id: str):
    db = open_database(database_url)
    try:
        store = Store(db, time.time)
        return store.get_approval(approval_id), store.votes(approval_id)
    finally:
        db.close()


def _two_bots(bot_in_process, tmp_path, policy: str):
    env = {"POLICY_FILE": _policy(tmp_path, policy), "REMIND_AFTER": "off"}
    return bot_in_process(**env), bot_in_process(**env)


QUORUM = f"""
graphs:
  draft:
    approvers: [{LEADS}]
    quorum: 2
"""


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_two_of_three_under_ten_concurrent_clicks_resumes_once_with_two_approvers(
    bot_in_process, fake_slack, tmp_path, database_url
):
    fake_slack.usergroups[LEADS] = [A, B, C]
    first, second = _two_bots(bot_in_process, tmp_path, QUORUM)
    first.command("Tell the team the release is out", user=REQ)
    card = wait_card(fake_slack)
    assert "0 of 2 approvals" in card.text

    clickers = [A, B, C, REQ, A, B, C, REQ, A, B]
    responses = _race(
        [
            lambda bot=(first, second)[n % 2], user=user: bot.click(
                ids.APPROVE, card.approval_id, user
            )
            for n, user in enumerate(clickers)
        ]
    )
    assert [r.status_code for r in responses] == [200] * 10
    shown = _wait_shown(fake_slack, card, "Approved* by")
    _posted_once(fake_slack, "Draft: Tell the team the release is out", first, second)

    approval, votes = _approval(database_url, card.approval_id)
    signers = approval.decision.approvers
    assert len(signers) == 2 and len(set(signers)) == 2 and set(signers) <= {A, B, C}
    assert f"Approved* by <@{signers[0]}> and <@{signers[1]}>" in shown
    assert not has_buttons(current(fake_slack, card))
    assert len(fake_slack.replies(card.channel, card.ts)) == 1  # the one report
    assert all(v.voter != REQ for v in votes)
    # The requester (not a lead) is refused, told who may decide, or that it is decided.
    for note in _told(fake_slack, REQ, 2):
        assert note == f"Only members of <!subteam^{LEADS}> can decide this request." or (
            note.startswith("Nothing changed: this request was already decided. ✅ *Approved*")
        )


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_rejection_racing_the_second_approval_gives_exactly_one_outcome(
    bot_in_process, fake_slack, tmp_path, database_url
):
    fake_slack.usergroups[LEADS] = [A, B, C]
    first, second = _two_bots(bot_in_process, tmp_path, QUORUM)
    for n in range(3):
        first.command(f"Notice {n}", user=REQ)
    cards = wait_cards(fake_slack, 3)
    for card in cards:
        first.click(ids.APPROVE, card.approval_id, A)
        _wait_shown(fake_slack, card, f"1 of 2 approvals: <@{A}>")
    _race(
        [
            action
            for card in cards
            for action in (
                lambda c=card: second.click(ids.APPROVE, c.approval_id, B),
                lambda c=card: first.submit(modals.REJECT, c.approval_id, C, {"reason": "no"}),
            )
        ]
    )
    for card in cards:
        shown = _wait_shown(fake_slack, card, "* by")
        first.settle()
        second.settle()
        approval, _ = _approval(database_url, card.approval_id)
        text = re.search(r"Draft: Notice \d", card.text).group(0)
        if approval.status == "approved":
            assert f"Approved* by <@{A}> and <@{B}>" in shown
            _posted_once(fake_slack, text, first, second)
        else:
            assert approval.status == "rejected" and f"Rejected* by <@{C}>" in shown
            assert _posts(fake_slack, text) == []
        assert len(fake_slack.replies(card.channel, card.ts)) == 1


STAGES = f"""
graphs:
  draft:
    stages:
      - {{name: Editor, approvers: [{A}, {B}]}}
      - {{name: Legal, approvers: [{A}, {C}]}}
"""


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_stages_in_order_refuse_a_stage_one_signer_on_stage_two_and_say_who_may(
    bot_in_process, fake_slack, tmp_path
):
    first, second = _two_bots(bot_in_process, tmp_path, STAGES)
    first.command("Publish the price change", user=REQ)
    card = wait_card(fake_slack)
    assert "Stage 1 of 2: Editor" in card.text

    second.click(ids.APPROVE, card.approval_id, C)  # Legal, but this is the Editor stage
    assert _told(fake_slack, C) == [f"Only <@{A}> or <@{B}> can decide stage 1 of 2 (Editor)."]
    first.click(ids.APPROVE, card.approval_id, A)
    shown = _wait_shown(fake_slack, card, "Stage 2 of 2: Legal")
    assert f"Stage 1 of 2: Editor signed by <@{A}>" in shown and has_buttons(
        current(fake_slack, card)
    )
    # The next stage's people hear of it in the card's thread.
    [note] = fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    assert note.params["text"].startswith(f"Stage 2 of 2: Legal is for <@{A}> or <@{C}>.")

    second.click(ids.APPROVE, card.approval_id, A)  # on both lists, but signed stage 1
    assert _told(fake_slack, A, 2)[1] == (
        f"You already signed for this run, so someone else has to decide stage 2 of 2 "
        f"(Legal): <@{A}> or <@{C}>."
    )
    second.click(ids.APPROVE, card.approval_id, C)
    _wait_shown(fake_slack, card, f"Approved* by <@{A}> and <@{C}>")
    _posted_once(fake_slack, "Draft: Publish the price change", first, second)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_three_revision_rounds_end_with_the_approved_third_draft_posted_once(
    bot_in_process, fake_slack, tmp_path
):
    first, second = _two_bots(bot_in_process, tmp_path, "{}")
    first.command("Invite everyone to the offsite", user=REQ)
    round1 = wait_card(fake_slack)
    assert buttons(current(fake_slack, round1)) == ["Approve", "Edit", "Reject", "Request changes"]

    first.click(ids.CHOICE_PREFIX + "revise", round1.approval_id, REQ)
    view = fake_slack.wait_for("views.open")[0].params["view"]
    assert view["callback_id"] == modals.CHOICE
    second.submit(modals.CHOICE, f"{round1.approval_id}:revise", REQ, {"notes": "mention lunch"})
    round2 = wait_cards(fake_slack, 2)[1]
    # In the same thread, linked to the round before, with the model's new draft.
    posted = fake_slack.calls("chat.postMessage")
    assert (
        next(c for c in posted if c.response and c.response["ts"] == round2.ts).params["thread_ts"]
        == round1.ts
    )
    assert "Round 2" in round2.text and "Request changes* by <@U0REQ>" in round2.text
    assert "mention lunch" in round2.text
    assert "Draft: Rewrite it following this feedback: mention lunch" in round2.text
    assert "Request changes* by <@U0REQ>" in _shown(fake_slack, round1)
    assert not has_buttons(current(fake_slack, round1))

    second.click(ids.CHOICE_PREFIX + "revise", round2.approval_id, REQ)
    fake_slack.wait_for("views.open", count=2)
    first.submit(modals.CHOICE, f"{round2.approval_id}:revise", REQ, {"notes": "shorter"})
    round3 = wait_cards(fake_slack, 3)[2]
    assert "Round 3" in round3.text
    # The last round: approve, edit or reject, but no more changes.
    assert buttons(current(fake_slack, round3)) == ["Approve", "Edit", "Reject"]
    forged = first.click(ids.CHOICE_PREFIX + "revise", round3.approval_id, REQ)
    assert forged.status_code == 200

    second.click(ids.APPROVE, round3.approval_id, REQ)
    third = "Draft: Rewrite it following this feedback: shorter"
    _wait_shown(fake_slack, round3, "Approved* by <@U0REQ>")
    _posted_once(fake_slack, third, first, second)
    assert _posts(fake_slack, "Draft: Invite everyone to the offsite") == []
    reports = [m for m in fake_slack.replies(round1.channel, round1.ts) if "blocks" not in m]
    assert len(reports) == 1 and reports[0]["text"].startswith("Approved.")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_edit_sets_aside_earlier_approvals_and_the_edited_text_is_posted(
    bot_in_process, fake_slack, tmp_path
):
    bot = bot_in_process(
        POLICY_FILE=_policy(
            tmp_path, f"graphs: {{draft: {{approvers: [{A}, {B}, {C}], quorum: 2}}}}"
        )
    )
    bot.command("Announce the new office hours", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, A)
    _wait_shown(fake_slack, card, f"1 of 2 approvals: <@{A}>")
    bot.click(ids.APPROVE, card.approval_id, A)  # the same person twice counts once
    notes = _told(fake_slack, A, 2)
    assert any(n.startswith("You've already voted on this. 1 of 2 approvals") for n in notes)

    bot.click(ids.EDIT, card.approval_id, B)
    fake_slack.wait_for("views.open")
    bot.submit(modals.EDIT_DRAFT, card.approval_id, B, {modals.DRAFT_BLOCK: "Office hours: 9-5"})
    shown = _wait_shown(fake_slack, card, f"Version 2, edited by <@{B}>")
    assert f"1 of 2 approvals: <@{B}>" in shown and "Office hours: 9-5" in shown

    bot.click(ids.APPROVE, card.approval_id, A)  # A approves the edited version
    shown = _wait_shown(fake_slack, card, "Edited and approved* by")
    assert f"<@{B}> and <@{A}>" in shown
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == "Office hours: 9-5")
    assert _posts(fake_slack, "Draft: Announce the new office hours") == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_expiry_closes_a_request_still_short_of_its_quorum(bot_in_process, fake_slack, tmp_path):
    policy = f"graphs: {{draft: {{approvers: [{A}, {B}], quorum: 2, expire_after: 3s}}}}"
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, policy))
    bot.command("Close the ticket queue", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, A)
    _wait_shown(fake_slack, card, f"1 of 2 approvals: <@{A}>")
    bot.tick_until(lambda: "⌛" in _shown(fake_slack, card), "expire the request", advance=1)
    shown = _wait_shown(fake_slack, card, "⌛")
    assert f"1 of 2 approvals: <@{A}>" in shown and not has_buttons(current(fake_slack, card))
    assert _posts(fake_slack, "Draft: Close the ticket queue") == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_two_person_graph_needs_two_different_people(bot_in_process, fake_slack):
    bot = bot_in_process(APPROVERS=f"{A},{B}")
    bot.command("two_person Freeze deploys tonight", user=REQ)
    one, two = wait_cards(fake_slack, 2)
    assert "Key 1 of 2" in one.text + two.text and "Key 2 of 2" in one.text + two.text
    assert buttons(current(fake_slack, one)) == ["Approve", "Reject"]

    bot.click(ids.APPROVE, one.approval_id, A)
    _wait_shown(fake_slack, one, f"Approved* by <@{A}>")
    bot.click(ids.APPROVE, two.approval_id, A)
    assert _told(fake_slack, A) == [
        f"You already signed for this run, so someone else has to decide this request: "
        f"<@{A}> or <@{B}>."
    ]
    assert has_buttons(current(fake_slack, two))
    bot.click(ids.APPROVE, two.approval_id, B)
    _wait_shown(fake_slack, two, f"Approved* by <@{B}>")
    _posted_once(fake_slack, "Draft: Freeze deploys tonight", bot)


CLIN, SENIOR = "U0CLIN", "U0SENIOR"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_pause_of_a_graph_goes_to_its_own_stage_and_stage_two_says_who_signed_one(
    byo, fake_slack, effects
):
    bot = byo()
    bot.command("signed_order warfarin", user=REQ)
    stage1 = wait_card(fake_slack)
    assert "Stage 1 of 2: Clinician" in stage1.text
    bot.click(ids.APPROVE, stage1.approval_id, CLIN)

    stage2 = wait_cards(fake_slack, 2)[1]
    assert "Stage 2 of 2: Senior clinician" in stage2.text
    assert f"Stage 1 of 2: Clinician signed by <@{CLIN}>" in stage2.text
    assert fake_slack.message(stage2.channel, stage2.ts)["thread_ts"] == stage1.ts
    bot.click(ids.APPROVE, stage2.approval_id, CLIN)
    assert _told(fake_slack, CLIN) == [
        "You already signed for this run, so someone else has to decide stage 2 of 2 "
        f"(Senior clinician): <@{SENIOR}> or <@{CLIN}>."
    ]
    bot.click(ids.APPROVE, stage2.approval_id, SENIOR)
    _wait_shown(fake_slack, stage2, f"Approved* by <@{SENIOR}>")
    assert report(fake_slack, stage2) == "FINAL: Order for warfarin (no interactions found)"
    assert ran(effects, "stages") == ["FINAL: Order for warfarin (no interactions found)"]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_vote_taken_over_from_a_stalled_process_is_not_called_a_second_vote(
    bot_in_process, fake_slack, tmp_path, database_url
):
    """One process took Alice's click and stalled past its lease; the other process's sweep
    took it over and counted her vote. Waking, the first goes on with its copy: Alice, who
    clicked once, is told her vote was recorded, once (before: then also "You've already
    voted on this")."""
    fake_slack.usergroups[LEADS] = [A, B, C]
    first, second = _two_bots(bot_in_process, tmp_path, QUORUM)
    first.command("Tell the team the release is out", user=REQ)
    card = wait_card(fake_slack)
    first.settle()
    with stalled_past_its_lease(first, second, card.approval_id, A):
        pass

    notes = [c.params["text"] for c in fake_slack.calls("chat.postEphemeral")]
    assert [n.split(".")[0] for n in notes] == ["Recorded your vote"], notes
    _, votes = _approval(database_url, card.approval_id)
    assert [v.voter for v in votes] == [A]
