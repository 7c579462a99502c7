"""App Home and an edit that stands: under a quorum, someone's edit is the version the other
signers are asked to approve, which the Home does not show. The Home offers no Approve for it
(Edit and Reject stay, with a link to the card); an Approve from a Home opened before the edit
carries the older version and is refused; the edit is signed on its card."""

from __future__ import annotations

import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from tests.support import slack_requests as sr
from tests.support.cards import blocks_text, current, wait_card

REQ, A, B, C = "U0REQ", "U0ALICE", "U0BOB", "U0CAROL"
EDITED = "Payroll file attached, reply with your bank login"


def open_home(fake_slack, bot, user: str) -> dict:
    before = len(fake_slack.calls("views.publish"))
    assert bot.send(sr.home_opened_body(user)).status_code == 200
    return fake_slack.wait_for("views.publish", count=before + 1)[before].params["view"]


def home_buttons(view: dict, approval_id: str) -> dict[str, dict]:
    [block] = [b for b in view["blocks"] if b.get("block_id") == f"decide:{approval_id}"]
    return {e["action_id"]: e for e in block["elements"]}


def click_on_home(bot, button: dict, approval_id: str, user: str):
    payload = sr.click_payload(ids.APPROVE, approval_id, user, value=button["value"])
    payload["container"] = {"type": "view", "view_id": "VHOME"}
    del payload["channel"], payload["message"]
    return bot.send(sr._payload(payload))


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_app_home_does_not_offer_to_sign_an_edit_it_does_not_show(
    bot_in_process, fake_slack, tmp_path
):
    policy = tmp_path / "policy.yaml"
    policy.write_text(f"graphs: {{draft: {{approvers: [{A}, {B}, {C}], quorum: 2}}}}")
    bot = bot_in_process(POLICY_FILE=str(policy), REMIND_AFTER="off")
    bot.command("Announce the new office hours", user=REQ)
    card = wait_card(fake_slack)
    before_the_edit = home_buttons(open_home(fake_slack, bot, A), card.approval_id)
    assert ids.APPROVE in before_the_edit

    bot.click(ids.EDIT, card.approval_id, B)  # Bob rewrites it: version 2, his vote standing
    fake_slack.wait_for("views.open")
    bot.submit(modals.EDIT_DRAFT, card.approval_id, B, {modals.DRAFT_BLOCK: EDITED})
    bot.settle()
    assert "Version 2, edited by" in blocks_text(current(fake_slack, card)["blocks"])

    view = open_home(fake_slack, bot, A)
    offered = home_buttons(view, card.approval_id)
    assert ids.APPROVE not in offered and {ids.EDIT, ids.REJECT} <= set(offered)
    assert f"Edited by <@{B}>: read and sign it on its card." in blocks_text(view["blocks"])

    # The Approve of the Home Alice opened before: the version she saw is gone.
    assert click_on_home(bot, before_the_edit[ids.APPROVE], card.approval_id, A).status_code == 200
    bot.settle()
    assert not [c for c in fake_slack.calls("chat.postMessage") if c.params.get("text") == EDITED]
    [refusal] = fake_slack.calls("chat.postEphemeral")[-1:]
    assert (
        refusal.params["user"] == A and "The card now shows what it says" in refusal.params["text"]
    )

    # On the card, where the edit shows, her Approve signs it.
    bot.click(ids.APPROVE, card.approval_id, A, blocks=current(fake_slack, card)["blocks"])
    bot.settle()
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == EDITED)
