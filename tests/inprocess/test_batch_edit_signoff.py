"""A batch of tool calls (HumanInTheLoopMiddleware, batched) under a quorum, with an edit
standing: the version the others are asked to sign is the edited one, and every door judges
that version as its card shows it. Short as proposed, the batch is offered "Approve all"; once
an edit makes it too long to read in full, no door takes one Approve for all of it -- not the
API, not a click on a button the card no longer shows -- and it is signed call by call."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.slack.listeners import views
from tests.inprocess.conftest import BYO
from tests.support.byo import buttons, opened_view, ran
from tests.support.cards import blocks_text, current, has_buttons, wait_card
from tests.support.forms import by_name

REQ, BOSS, BOSS2 = "U0REQ", "U0BOSS", "U0BOSS2"
TOKEN = "boss2-token-0123456789abcdef"
AS_BOSS2 = {"Authorization": f"Bearer {TOKEN}"}
FIELDS = ("to", "subject", "body")
EMAIL = {"subject": "Q3", "body": "Hi"}
EMAILS = [
    {"name": "send_email", "arguments": {"to": f"t{n}@example.com", **EMAIL}} for n in range(6)
]
LONG = "x" * 3000  # what one of Slack's text inputs holds: six of them are past 16,000


def pick(value: str) -> dict[str, Any]:
    return {"type": "static_select", "selected_option": {"value": value}}


@pytest.fixture
def start(bot_in_process, effects: Path, tmp_path: Path, fake_slack, fake_openai):
    """The batched mailer, signed by two of its approvers, the model proposing ``emails``:
    the bot and the batch's card."""

    def started(emails: list[dict[str, Any]]):
        policy = tmp_path / "policy.yaml"
        policy.write_text(
            (BYO / "policy.yaml").read_text()
            + f"  mailer_all: {{approvers: [{BOSS}, {BOSS2}], quorum: 2}}\n"
        )
        fake_slack.set_members("C0REQ", [REQ, BOSS, BOSS2])
        fake_openai.enqueue(tool_calls=emails)
        fake_openai.enqueue("Sent what you allowed.")
        bot = bot_in_process(
            LANGGRAPH_CONFIG=str(BYO / "langgraph.json"),
            POLICY_FILE=str(policy),
            BYO_EFFECTS=str(effects),
            API_TOKENS=f"boss2:{TOKEN}:{BOSS2}",
            REMIND_AFTER="off",
        )
        bot.command("mailer_all mail the quarter numbers", user=REQ)
        card = wait_card(fake_slack)
        assert buttons(current(fake_slack, card))[0] == "Approve all"
        return bot, card

    return started


def review_each(bot, fake_slack, card, user: str, values: dict[str, Any], opened: int):
    bot.click(ids.EACH, card.approval_id, user)
    opened_view(fake_slack, opened)
    return bot.submit(modals.EACH, card.approval_id, user, values)


@pytest.fixture
def mailer(start, fake_slack):
    """Six emails; Boss rewrites every body (version 2, his vote standing): past what can be
    read in full in one place."""
    bot, card = start(EMAILS)
    edits: dict[str, Any] = {}
    for call in range(len(EMAILS)):
        edits |= {f"decision:{call}": pick("edit")} | by_name(FIELDS, {"body": LONG}, call)
    assert review_each(bot, fake_slack, card, BOSS, edits, 1).status_code == 200
    bot.settle()
    shown = current(fake_slack, card)
    assert "Approve as edited" not in buttons(shown) and "Review each…" in buttons(shown)
    assert ids.TOO_LONG_AT_ONCE in blocks_text(shown["blocks"])
    return bot, card


def _short(card) -> str:
    found = re.search(r"Run `([0-9a-f]{8})`", card.text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_api_offers_and_takes_no_approve_of_an_edited_batch_too_long_to_read(
    mailer, fake_slack, effects
):
    bot, card = mailer
    run = bot.http.get(f"/api/runs/{_short(card)}", headers=AS_BOSS2).json()
    [pending] = run["pending"]
    assert pending["version"] == 2 and pending["choices"] == ["reject"]

    path = f"/api/runs/{run['run']}/decision"
    blind = bot.http.post(path, json={"decision": "approve", "version": 2}, headers=AS_BOSS2)
    assert blind.status_code == 409, blind.text
    assert blind.json()["decided"] is False and "isn't one of the choices" in blind.json()["error"]
    bot.settle()
    assert has_buttons(current(fake_slack, card)) and ran(effects, "email") == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_click_on_approve_the_card_no_longer_shows_signs_nothing(mailer, fake_slack, effects):
    bot, card = mailer
    # A forged click: the card offers no Approve, but the button's value names the version.
    value = f"{card.approval_id}:2"
    assert bot.click(ids.APPROVE, card.approval_id, BOSS2, value=value).status_code == 200
    bot.settle()
    assert has_buttons(current(fake_slack, card)) and ran(effects, "email") == []
    [said] = fake_slack.calls("chat.postEphemeral")[-1:]
    assert said.params["user"] == BOSS2 and "isn't one of the choices" in said.params["text"]

    # Call by call, the same version is signed, and what runs is what Boss wrote.
    approvals = {f"decision:{call}": pick("approve") for call in range(len(EMAILS))}
    assert review_each(bot, fake_slack, card, BOSS2, approvals, 2).status_code == 200
    bot.settle()
    sent = ran(effects, "email")
    assert len(sent) == len(EMAILS) and {e["body"] for e in sent} == {LONG}


def edit_first_reject_second(bot, fake_slack, card) -> None:
    """Boss's Review each: the first email to him, not the second (version 2, his vote
    standing; the card shows "1. edited  2. rejected")."""
    boss = {"decision:0": pick("edit")} | by_name(FIELDS, {"to": "boss@example.com"}, 0)
    boss |= {"decision:1": pick("reject"), "message:1": "not this one"}
    assert review_each(bot, fake_slack, card, BOSS, boss, 1).status_code == 200
    bot.settle()
    shown = blocks_text(current(fake_slack, card)["blocks"])
    assert "1. edited  2. rejected: not this one" in shown and "Version 2" in shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_call_decided_as_the_card_shows_it_signs_the_version_that_stands(
    start, fake_slack, effects
):
    """Boss 2 reviews each call and decides it as the card shows it (the first as edited,
    the second rejected): she signs Boss's version, which runs -- not a copy of it that set his
    approval aside and asked him to sign again."""
    bot, card = start(EMAILS[:2])
    edit_first_reject_second(bot, fake_slack, card)
    same = {"decision:0": pick("approve"), "decision:1": pick("reject")}
    assert review_each(bot, fake_slack, card, BOSS2, same, 2).status_code == 200
    bot.settle()
    assert ran(effects, "email") == [{**EMAILS[0]["arguments"], "to": "boss@example.com"}]
    assert f"by <@{BOSS}> and <@{BOSS2}>" in blocks_text(current(fake_slack, card)["blocks"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_approving_a_call_the_standing_version_rejects_does_not_sign_its_rejection(
    start, fake_slack, effects
):
    """Boss 2's Review each shows the second email as proposed, and she approves both: her
    Approve of the second email counted as an approval of its rejection (the card then said
    "Decided by Boss and Boss 2", the second email rejected). It is her version: both emails,
    the first as Boss edited it, for Boss to sign."""
    bot, card = start(EMAILS[:2])
    edit_first_reject_second(bot, fake_slack, card)
    both = {"decision:0": pick("approve"), "decision:1": pick("approve")}
    assert review_each(bot, fake_slack, card, BOSS2, both, 2).status_code == 200
    bot.settle()
    shown = current(fake_slack, card)
    assert has_buttons(shown) and ran(effects, "email") == []
    assert "1. edited  2. approved" in blocks_text(shown["blocks"])
    assert "Version 3" in blocks_text(shown["blocks"])

    bot.click(ids.APPROVE, card.approval_id, BOSS, blocks=shown["blocks"])
    bot.settle()
    sent = sorted(ran(effects, "email"), key=lambda e: e["to"])
    assert sent == [{**EMAILS[0]["arguments"], "to": "boss@example.com"}, EMAILS[1]["arguments"]]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_approving_every_call_of_a_version_that_does_not_run_them_all_is_refused(
    start, fake_slack, effects
):
    """Boss rejects the second email and changes nothing (version 2): approving both, with no
    edit to make a new version of, would sign his rejection. The form says so; deciding each
    call as the card shows it signs it."""
    bot, card = start(EMAILS[:2])
    boss = {"decision:0": pick("approve"), "decision:1": pick("reject")}
    assert review_each(bot, fake_slack, card, BOSS, boss, 1).status_code == 200
    bot.settle()
    both = {"decision:0": pick("approve"), "decision:1": pick("approve")}
    refused = review_each(bot, fake_slack, card, BOSS2, both, 2)
    assert refused.json() == {
        "response_action": "errors",
        "errors": {"decision:1": views.NOT_THE_CARDS},
    }
    bot.settle()
    assert has_buttons(current(fake_slack, card)) and ran(effects, "email") == []

    same = {"decision:0": pick("approve"), "decision:1": pick("reject")}
    assert review_each(bot, fake_slack, card, BOSS2, same, 3).status_code == 200
    bot.settle()
    assert ran(effects, "email") == [EMAILS[0]["arguments"]]
