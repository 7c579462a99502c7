"""The gate cannot be walked around, tried as an attacker would, over signed requests: one
approver cannot settle what needs two by reviewing call by call, a batch is governed by its
strictest call whatever order the model listed them in, a vote is for the version it saw, an
edit goes back through the stages before it, and a modal decides only what it was opened for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.slack.blocks.outcomes import CHANGED
from tests.inprocess.test_bring_your_own_batch import pick, propose
from tests.support.byo import inputs, opened_view, ran, report
from tests.support.cards import current, has_buttons, wait_card, wait_cards
from tests.support.cards import shown as _shown
from tests.support.cards import told as _told
from tests.support.cards import wait_shown as _wait_shown

BYO = Path(__file__).resolve().parents[1] / "byo"
REQ, A, B, C, D = "U0REQ", "U0ALICE", "U0BOB", "U0CAROL", "U0DAVE"
FIRST = {"to": "ops@example.com", "subject": "Q3", "body": "Numbers attached"}
SECOND = {"to": "cfo@example.com", "subject": "Q4", "body": "Forecast"}
DONE = "Sent what you allowed."

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def gated(bot_in_process, effects, tmp_path):
    """The bring-your-own graphs with the tests' own policy file added to theirs."""

    def start(policy: str, **env: str):
        path = tmp_path / "policy.yaml"
        path.write_text((BYO / "policy.yaml").read_text() + policy)
        return bot_in_process(
            LANGGRAPH_CONFIG=str(BYO / "langgraph.json"),
            POLICY_FILE=str(path),
            BYO_EFFECTS=str(effects),
            REMIND_AFTER="off",
            **env,
        )

    return start


@pytest.fixture
def shipped(bot_in_process, tmp_path):
    """The shipped graphs, with the tests' policy file."""

    def start(policy: str, **env: str):
        path = tmp_path / "policy.yaml"
        path.write_text(policy)
        return bot_in_process(POLICY_FILE=str(path), REMIND_AFTER="off", **env)

    return start


def _button(fake_slack, card, action_id: str) -> str:
    for block in current(fake_slack, card)["blocks"]:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element["value"]
    raise AssertionError(f"no {action_id} button on the card")


TWO_LEADS = f"""
actions:
  send_email: {{approvers: [{A}, {B}, {C}], quorum: 2}}
"""


def test_one_approver_reviewing_call_by_call_runs_nothing_until_a_second_signs_that_version(
    gated, fake_slack, fake_openai, effects
):
    propose(
        fake_openai,
        [{"name": "send_email", "arguments": FIRST}, {"name": "send_email", "arguments": SECOND}],
    )
    bot = gated(TWO_LEADS)
    bot.command("mailer mail the quarter numbers", user=REQ)
    card = wait_card(fake_slack)
    first_version = _button(fake_slack, card, ids.APPROVE)
    assert first_version == f"{card.approval_id}:1"

    # Alice edits call 1 and rejects call 2: a new version, signed by her alone.
    bot.click(ids.EACH, card.approval_id, A)
    fake_slack.wait_for("views.open")
    mixed = {
        "decision:0": pick("edit"),
        modals.param_block(0, call=0): "boss@example.com",  # its "to"
        "decision:1": pick("reject"),
        "message:1": "not the forecast",
    }
    assert bot.submit(modals.EACH, card.approval_id, A, mixed).status_code == 200
    shown = _wait_shown(fake_slack, card, f"Version 2, edited by <@{A}>")
    assert "1 of 2 approvals" in shown and "boss@example.com" in shown
    assert "1. edited  2. rejected" in shown and has_buttons(current(fake_slack, card))
    bot.settle()  # whatever the edit set off has finished: nothing ran
    assert ran(effects, "email") == [] and len(fake_openai.requests) == 1

    # Bob's click on the card as it was before the edit is refused, and nothing changes.
    bot.click(ids.APPROVE, card.approval_id, B, value=first_version)
    assert _told(fake_slack, B) == [CHANGED]
    assert ran(effects, "email") == [] and has_buttons(current(fake_slack, card))

    # Bob approves the version the card shows now: call 1 runs once, edited; call 2 does not.
    assert _button(fake_slack, card, ids.APPROVE) == f"{card.approval_id}:2"
    bot.click(ids.APPROVE, card.approval_id, B)
    assert report(fake_slack, card) == DONE
    assert ran(effects, "email") == [{**FIRST, "to": "boss@example.com"}]
    decided = _shown(fake_slack, card)
    assert f"<@{A}> and <@{B}>" in decided and not has_buttons(current(fake_slack, card))


def test_an_answer_under_a_quorum_is_a_version_the_second_approver_signs(
    gated, fake_slack, effects
):
    bot = gated(f"\n  refund: {{approvers: [{A}, {B}, {C}], quorum: 2}}\n")
    bot.command("refund ticket 7", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.ANSWER, card.approval_id, A)
    fake_slack.wait_for("views.open")
    eur = {"type": "static_select", "selected_option": {"value": "EUR"}}
    yes = {"type": "static_select", "selected_option": {"value": "true"}}
    # The form's amount, currency and notify, its first three fields.
    answer = {modals.param_block(0): "12.5", modals.param_block(1): eur, modals.param_block(2): yes}
    bot.submit(modals.ANSWER, card.approval_id, A, answer)
    shown = _wait_shown(fake_slack, card, f"Version 2, edited by <@{A}>")
    assert "12.5" in shown and "1 of 2 approvals" in shown
    assert [b["text"]["text"] for b in _actions(fake_slack, card)] == [
        "Approve this version",
        "Answer…",
    ]
    bot.settle()  # whatever the clicks set off has finished
    assert ran(effects, "refund") == []

    bot.click(ids.APPROVE, card.approval_id, A)  # the author's own answer already counts
    assert _told(fake_slack, A, 2)[1].startswith("You've already voted on this.")
    bot.click(ids.APPROVE, card.approval_id, B)
    assert report(fake_slack, card) == "Refunded 12.5 EUR"
    assert ran(effects, "refund") == [
        {"amount": 12.5, "currency": "EUR", "notify": True, "note": ""}
    ]
    assert f"<@{A}> and <@{B}>" in _shown(fake_slack, card)


def _actions(fake_slack, card) -> list[dict[str, Any]]:
    for block in current(fake_slack, card)["blocks"]:
        if block["type"] == "actions" and block["block_id"].startswith("decide:"):
            return block["elements"]
    return []


REFUNDS = f"""
defaults: {{approvers: [{A}]}}
actions:
  lookup_order: {{expire_as: approve}}
  issue_refund: {{approvers: [{B}, {C}], quorum: 2}}
"""


def _lookup_then_refund() -> list[dict[str, Any]]:
    return [
        {"name": "lookup_order", "arguments": {"order": "A-1"}},
        {"name": "issue_refund", "arguments": {"order": "A-1", "amount": "25.00"}},
    ]


def test_a_batch_listing_the_harmless_call_first_still_needs_the_refund_s_people(
    gated, fake_slack, fake_openai, effects
):
    propose(fake_openai, _lookup_then_refund())
    bot = gated(REFUNDS)
    bot.command("refunds refund order A-1", user=REQ)
    card = wait_card(fake_slack)
    assert "Stage 1 of 2: lookup_order" in card.text

    bot.click(ids.APPROVE, card.approval_id, A)  # one Approve all by lookup_order's approver
    _wait_shown(fake_slack, card, "Stage 2 of 2: issue_refund")
    bot.click(ids.APPROVE, card.approval_id, A)
    assert _told(fake_slack, A, 2)[1].startswith(f"Only <@{B}> or <@{C}> can decide stage 2")
    bot.click(ids.APPROVE, card.approval_id, B)
    _wait_shown(fake_slack, card, "1 of 2 approvals")
    bot.settle()  # whatever the clicks set off has finished
    assert ran(effects, "refund") == [] and ran(effects, "lookup") == []

    bot.click(ids.APPROVE, card.approval_id, C)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == DONE)
    assert ran(effects, "refund") == [{"order": "A-1", "amount": "25.00"}]
    assert ran(effects, "lookup") == ["A-1"]


def test_a_batch_expires_rejected_when_any_of_its_calls_says_reject(
    gated, fake_slack, fake_openai, effects
):
    propose(fake_openai, _lookup_then_refund())
    policy = f"""
defaults: {{approvers: [{A}]}}
actions:
  lookup_order: {{expire_after: 2s, expire_as: approve}}
  issue_refund: {{expire_after: 1h, expire_as: reject}}
"""
    bot = gated(policy, SCHEDULER_TICK="1")
    bot.command("refunds refund order A-1", user=REQ)
    card = wait_card(fake_slack)
    bot.tick_until(lambda: "⌛" in _shown(fake_slack, card), "expire the batch", advance=1)
    shown = _wait_shown(fake_slack, card, "⌛", timeout=20)
    assert "rejected" in shown.lower()
    report(fake_slack, card)
    assert ran(effects, "refund") == [] and ran(effects, "lookup") == []


STAGES = f"""
graphs:
  draft:
    stages:
      - {{name: Editor, approvers: [{A}, {B}]}}
      - {{name: Legal, approvers: [{C}, {D}]}}
"""


def test_an_edit_at_the_last_stage_runs_only_once_the_earlier_stage_signed_it(shipped, fake_slack):
    bot = shipped(STAGES)
    bot.command("Announce the price change", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, A)
    _wait_shown(fake_slack, card, "Stage 2 of 2: Legal")

    bot.click(ids.EDIT, card.approval_id, C)
    fake_slack.wait_for("views.open")
    bot.submit(modals.EDIT_DRAFT, card.approval_id, C, {modals.DRAFT_BLOCK: "Prices rise 5%"})
    shown = _wait_shown(fake_slack, card, f"Version 2, edited by <@{C}>")
    assert "Prices rise 5%" in shown and "*Stage 1 of 2: Editor*" in shown
    assert "signed by" not in shown  # Alice's signature was for the first version
    # Legal's people hear it went back, the Editor's in the card's thread.
    note = fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == card.ts and "goes back a stage" in c.params["text"],
    )[0]
    assert f"Stage 1 of 2: Editor is for <@{A}> or <@{B}>" in note.params["text"]
    bot.settle()  # whatever the clicks set off has finished
    assert not [c for c in fake_slack.calls("chat.postMessage") if "Prices" in c.params["text"]]

    # Alice's Edit form starts from the version the card shows, not the agent's draft.
    bot.click(ids.EDIT, card.approval_id, A)
    view = fake_slack.wait_for("views.open", count=2)[1].params["view"]
    [field] = [b["element"] for b in view["blocks"] if b["type"] == "input"]
    assert field["initial_value"] == "Prices rise 5%"
    # Alice signed the first version; she signs the new one, and Legal's edit then stands.
    bot.click(ids.APPROVE, card.approval_id, A)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == "Prices rise 5%")
    decided = _wait_shown(fake_slack, card, "Edited and approved* by")
    assert f"<@{A}> and <@{C}>" in decided


def test_a_modal_decides_only_the_request_it_was_opened_for(shipped, fake_slack):
    bot = shipped("{}")
    bot.command("Announce the offsite", user=REQ)
    bot.command("Announce the picnic", user=REQ)
    one, two = wait_cards(fake_slack, 2)
    bot.click(ids.REJECT, one.approval_id, REQ)
    opened = fake_slack.wait_for("views.open")[0].params["view"]["private_metadata"]
    assert opened.startswith(f"{one.approval_id}:1:")

    # The same signed metadata re-pointed at the other request, or a bare request id.
    forged = opened.replace(one.approval_id, two.approval_id)
    for metadata in (forged, two.approval_id, f"{two.approval_id}:1:{'0' * 32}"):
        answer = bot.submit(modals.REJECT, metadata, REQ, {modals.REASON_BLOCK: "no"}, False)
        assert answer.json()["response_action"] == "errors"
    # Someone else submitting the modal opened for the requester is refused too.
    other = bot.submit(modals.REJECT, opened, B, {modals.REASON_BLOCK: "no"}, False)
    assert other.json()["response_action"] == "errors"
    bot.settle()  # whatever the clicks set off has finished
    assert has_buttons(current(fake_slack, one)) and has_buttons(current(fake_slack, two))

    # The modal as opened still works for the person it was opened for.
    bot.submit(modals.REJECT, one.approval_id, REQ, {modals.REASON_BLOCK: "not now"})
    _wait_shown(fake_slack, one, "Rejected* by <@U0REQ>")
    assert has_buttons(current(fake_slack, two))


def _button_value(fake_slack, card, action_id: str) -> str:
    for block in current(fake_slack, card)["blocks"]:
        for element in block.get("elements") or []:
            if element.get("action_id") == action_id:
                return element["value"]
    raise AssertionError(f"no {action_id} button on the card")


def test_a_stale_ignore_click_is_refused_like_a_stale_approve(gated, fake_slack, effects):
    # Ignore settles a request in one click, without a vote: it is for the version it saw too.
    bot = gated(f"\n  inbox: {{approvers: [{A}, {B}, {C}], quorum: 2}}\n")
    bot.command("inbox ticket 9", user=REQ)
    card = wait_card(fake_slack)
    old_ignore = _button_value(fake_slack, card, ids.IGNORE)
    assert old_ignore == f"{card.approval_id}:1"

    bot.click(ids.EDIT, card.approval_id, A)  # Alice's edit: version 2, waiting for a second
    [field] = inputs(opened_view(fake_slack))
    bot.submit(modals.EDIT, card.approval_id, A, {field: "ticket 10"})
    _wait_shown(fake_slack, card, f"Version 2, edited by <@{A}>")
    bot.settle()

    bot.click(ids.IGNORE, card.approval_id, B, value=old_ignore)  # from the card before it
    bot.settle()
    assert _told(fake_slack, B) == [CHANGED]
    assert has_buttons(current(fake_slack, card))
    assert ran(effects, "inbox") == []


def test_a_forged_version_is_refused_by_the_api_as_by_the_buttons(bot_in_process, fake_slack):
    token = "boss-token-0123456789abcdef"
    bot = bot_in_process(API_TOKENS=f"boss:{token}:U0BOSS", APPROVERS="U0BOSS", REMIND_AFTER="off")
    bot.command("Announce the offsite", user=REQ)
    card = wait_card(fake_slack)

    bot.click(ids.APPROVE, card.approval_id, "U0BOSS", value=f"{card.approval_id}:7")
    bot.settle()
    assert _told(fake_slack, "U0BOSS") == [CHANGED]
    run = card.text.split("Run `")[1].split("`")[0]
    answer = bot.http.post(
        f"/api/runs/{run}/decision",
        json={"decision": "approve", "version": 7},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 409, answer.text
    assert has_buttons(current(fake_slack, card))
