"""One API token is one signer, as an attacker holding it would find: naming two people does
not meet a quorum of two (nor sign two stages), calls raced in parallel do not either, and the
audit trail names the token and the door it came through."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.slack.blocks import card as ids
from bot.store.audit_log import Audit
from tests.support.cards import (
    Card,
    blocks_text,
    current,
    has_buttons,
    wait_card,
    wait_shown,
)

REQ, A, B, C, CI, DESK = "U0REQ", "U0ALICE", "U0BOB", "U0CAROL", "U0CI", "U0DESK"
CI_TOKEN = "ci-token-0123456789abcdef"  # acts as U0CI only
DESK_TOKEN = "desk-token-0123456789abcdef"  # on_behalf: acts for the Slack user it names
TOKENS = f"ci:{CI_TOKEN}:{CI},desk:{DESK_TOKEN}:{DESK}:on_behalf"
AS_CI = {"Authorization": f"Bearer {CI_TOKEN}"}
AS_DESK = {"Authorization": f"Bearer {DESK_TOKEN}"}


def _bot(bot_in_process, tmp_path: Path, policy: str):
    path = tmp_path / "policy.yaml"
    path.write_text(policy)
    return bot_in_process(API_TOKENS=TOKENS, POLICY_FILE=str(path), REMIND_AFTER="off")


def _decide(bot, card: Card, headers: dict[str, str], **body: str):
    path = f"/api/runs/{_run_of(bot, card)}/decision"
    return bot.http.post(path, json={"decision": "approve", **body}, headers=headers)


def _run_of(bot, card: Card) -> str:
    return re.search(r"Run `([0-9a-f]{8})`", card.text).group(1)


def _shown(fake_slack, card: Card) -> str:
    return blocks_text(current(fake_slack, card)["blocks"])


def _told_voted_as_alice(fake_slack) -> None:
    """The desk token's holder, clicking in Slack, is told their token already voted as Alice."""
    told = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params.get("user") == DESK)
    assert (
        told[0]
        .params["text"]
        .startswith(
            "Nothing changed: you already voted on this request as <@U0ALICE> (through the API "
            "token `desk`)"
        )
    )


def _audit(bot, card: Card) -> list[dict]:
    run = bot.http.get(f"/api/runs/{_run_of(bot, card)}?as={A}", headers=AS_DESK).json()
    return run["timeline"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_one_token_naming_two_people_does_not_meet_a_quorum_of_two(
    bot_in_process, fake_slack, tmp_path
):
    bot = _bot(
        bot_in_process,
        tmp_path,
        f"graphs: {{draft: {{approvers: [{A}, {B}, {C}, {CI}], quorum: 2}}}}",
    )
    bot.command("Tell the team the release is out", user=REQ)
    card = wait_card(fake_slack)

    first = _decide(bot, card, AS_DESK, by=A)
    assert first.status_code == 202, first.text  # counted: 1 of 2
    # The same token, now naming Bob, then Carol: one signer whoever it names.
    for other in (B, C):
        again = _decide(bot, card, AS_DESK, by=other)
        assert again.status_code == 409, again.text
        error = again.json()["error"]
        assert "you already voted on this request as <@U0ALICE> (through the API token `desk`)" in (
            error
        )
    # A token bound to one user cannot name anybody else at all.
    named = _decide(bot, card, AS_CI, by=B)
    assert named.status_code == 403 and named.json()["field"] == "by"
    # The first vote was taken in the background (202); the refused ones were answered at once,
    # so once the card counts one approval nothing else is in flight.
    wait_shown(fake_slack, card, "1 of 2 approvals")
    assert has_buttons(current(fake_slack, card))
    assert [
        c
        for c in fake_slack.calls("chat.postMessage")
        if c.params.get("text") == ("Draft: Tell the team the release is out")
    ] == []

    voted = [e for e in _audit(bot, card) if e["event"] == "voted"]
    assert [(e["actor"], e["detail"]) for e in voted] == [
        (A, {"vote": "approve", "version": 1, "via": "api", "on_behalf_of": "desk"})
    ]

    bot.command(f"audit {_run_of(bot, card)}", user=A)
    audit = fake_slack.wait_for("response_url")[0].params["text"]
    assert f"*voted* by <@{A}> via the API (token `desk`, on their behalf)" in audit

    # A second signer, through another door, completes it: posted once, signed by two.
    bot.click(ids.APPROVE, card.approval_id, B)
    fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("text") == "Draft: Tell the team the release is out",
    )
    approved = [e for e in _audit(bot, card) if e["event"] == "approved"]
    assert [(e["actor"], e["detail"]["via"], e["detail"]["approvers"]) for e in approved] == [
        (B, "slack", [A, B])
    ]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_one_token_racing_itself_as_three_people_counts_once(bot_in_process, fake_slack, tmp_path):
    policy = f"graphs: {{draft: {{approvers: [{A}, {B}, {C}], quorum: 2}}}}"
    first, second = _bot(bot_in_process, tmp_path, policy), _bot(bot_in_process, tmp_path, policy)
    first.command("Rotate the production keys", user=REQ)
    card = wait_card(fake_slack)
    names = [A, B, C] * 3
    with ThreadPoolExecutor(len(names)) as pool:
        answers = list(
            pool.map(
                lambda n: _decide((first, second)[n % 2], card, AS_DESK, by=names[n]),
                range(len(names)),
            )
        )
    codes = sorted(a.status_code for a in answers)
    # One person counted (their repeats are "already voted", 202); every other name refused.
    counted = {names[n] for n, a in enumerate(answers) if a.status_code == 202}
    assert len(counted) == 1 and set(codes) == {202, 409}, [a.text for a in answers]
    wait_shown(fake_slack, card, "1 of 2 approvals")
    assert has_buttons(current(fake_slack, card))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_one_token_cannot_sign_two_stages_as_two_people(bot_in_process, fake_slack, tmp_path):
    policy = (
        "graphs:\n  draft:\n    stages:\n"
        f"      - {{name: Lead, approvers: [{A}]}}\n"
        f"      - {{name: Director, approvers: [{B}]}}\n"
    )
    bot = _bot(bot_in_process, tmp_path, policy)
    bot.command("Publish the price change", user=REQ)
    card = wait_card(fake_slack)
    assert _decide(bot, card, AS_DESK, by=A).status_code == 202  # the Lead stage: signed
    second = _decide(bot, card, AS_DESK, by=B)
    assert second.status_code == 409 and "already voted" in second.json()["error"]
    # The card moves on to the Director stage once the Lead's signature is in: wait for that,
    # then the second identity the token named has still decided nothing.
    wait_shown(fake_slack, card, "Director")
    assert has_buttons(current(fake_slack, card))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "token_first", [True, False], ids=["token-then-button", "button-then-token"]
)
def test_a_token_and_its_own_user_in_slack_are_one_signer(
    bot_in_process, fake_slack, tmp_path, token_first
):
    # The desk token's holder votes once through it (naming Alice) and once as themselves with
    # the card's button, in either order: one hand, one vote, whichever door comes first.
    bot = _bot(
        bot_in_process, tmp_path, f"graphs: {{draft: {{approvers: [{A}, {B}, {DESK}], quorum: 2}}}}"
    )
    bot.command("Tell the team the release is out", user=REQ)
    card = wait_card(fake_slack)

    if token_first:
        assert _decide(bot, card, AS_DESK, by=A).status_code == 202
        wait_shown(fake_slack, card, "1 of 2 approvals")
        bot.click(ids.APPROVE, card.approval_id, DESK)
        bot.settle()
        _told_voted_as_alice(fake_slack)
    else:
        bot.click(ids.APPROVE, card.approval_id, DESK)
        wait_shown(fake_slack, card, "1 of 2 approvals")
        refused = _decide(bot, card, AS_DESK, by=A)
        assert refused.status_code == 409, refused.text
        assert "you already voted on this request as <@U0DESK>." in refused.json()["error"]

    assert "1 of 2 approvals" in _shown(fake_slack, card)
    assert has_buttons(current(fake_slack, card))
    voted = [e["actor"] for e in _audit(bot, card) if e["event"] == "voted"]
    assert voted == ([A] if token_first else [DESK])
    # Someone else completes it: posted once, signed by two people.
    bot.click(ids.APPROVE, card.approval_id, B)
    fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("text") == "Draft: Tell the team the release is out",
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    "tokens", ["", f"desk:{DESK_TOKEN}:{C}:on_behalf"], ids=["removed", "handed-on"]
)
def test_a_token_s_vote_stays_its_holder_s_after_the_token_is_removed_or_handed_on(
    bot_in_process, fake_slack, tmp_path, tokens
):
    # The desk token's holder votes through it (naming Alice); then the operator removes the
    # token, or hands it to Carol. The holder's click in Slack is still their second voice.
    policy = f"graphs: {{draft: {{approvers: [{A}, {B}, {DESK}], quorum: 2}}}}"
    bot = _bot(bot_in_process, tmp_path, policy)
    bot.command("Tell the team the release is out", user=REQ)
    card = wait_card(fake_slack)
    assert _decide(bot, card, AS_DESK, by=A).status_code == 202
    wait_shown(fake_slack, card, "1 of 2 approvals")
    bot.stop()

    again = bot_in_process(API_TOKENS=tokens, POLICY_FILE=str(tmp_path / "policy.yaml"))
    again.click(ids.APPROVE, card.approval_id, DESK)
    again.settle()
    _told_voted_as_alice(fake_slack)
    assert "1 of 2 approvals" in _shown(fake_slack, card) and has_buttons(current(fake_slack, card))


def test_a_run_a_token_started_in_someone_s_name_is_not_approved_by_the_token_s_holder(
    bot_in_process, fake_slack, tmp_path
):
    """Desk's on_behalf token starts a run as Alice: Desk asked for it, and approves it no more
    than Alice may (a click, or the token naming someone else); the audit trail says the token
    started it."""
    fake_slack.set_members("C0OPS", [A, B, DESK])
    bot = _bot(bot_in_process, tmp_path, f"defaults: {{approvers: [{B}, {DESK}]}}")
    body = {"request": "Wire the deposit to the new vendor", "channel": "C0OPS", "requester": A}
    started = bot.http.post("/api/runs", json=body, headers=AS_DESK)
    assert started.status_code == 201, started.text
    run = started.json()["run"]
    card = wait_card(fake_slack)

    bot.click(ids.APPROVE, card.approval_id, DESK)
    bot.settle()
    refused = _decide(bot, card, AS_DESK, by=B)  # through the token, naming Bob
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == (
        f"You started this run, so someone else has to decide this request: <@{B}>."
    )
    detail = bot.http.get(f"/api/runs/{run}?as={A}", headers=AS_DESK).json()
    assert detail["status"] == "waiting" and detail["decided"] == []
    [told] = [c for c in fake_slack.calls("chat.postEphemeral") if c.params["user"] == DESK]
    assert told.params["text"] == refused.json()["error"]

    bot.click(ids.APPROVE, card.approval_id, B)
    bot.settle()
    detail = bot.http.get(f"/api/runs/{run}?as={A}", headers=AS_DESK).json()
    assert [d["by"] for d in detail["decided"]] == [B]
    [event] = [e for e in Audit(bot.deps.db).since(0) if e.event == "started"]
    assert event.actor == A and event.detail["on_behalf_of"] == "desk", event
