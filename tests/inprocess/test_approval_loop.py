"""The approval loop end to end: /agent -> card -> Approve / Edit / Reject -> outcome."""

from __future__ import annotations

from bot.slack.blocks import card as card_ids
from bot.slack.blocks import modals
from tests.support.cards import blocks_text, current, has_buttons, wait_card
from tests.support.slack_requests import home_opened_body

REQUESTER, APPROVER = "U0REQ", "U0BOSS"


def test_approve_posts_the_draft_and_updates_the_card(bot_in_process, fake_slack):
    bot = bot_in_process()
    response = bot.command("Draft an announcement that the VPN is down tonight")
    assert response.status_code == 200
    assert "Started run" in response.json()["text"]

    card = wait_card(fake_slack)
    assert card.channel == "C0REQ"
    assert "Draft: Draft an announcement that the VPN is down tonight" in card.text
    assert "<@U0REQ> asked:" in card.text
    assert has_buttons(current(fake_slack, card))

    assert bot.click(card_ids.APPROVE, card.approval_id, REQUESTER).status_code == 200

    posted = fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("text", "").startswith("Draft: Draft an")
    )
    assert posted[0].params["channel"] == "C0REQ"
    fake_slack.wait_for("chat.update", lambda c: "Approved" in blocks_text(c.params["blocks"]))
    message = current(fake_slack, card)
    assert not has_buttons(message)
    assert "Approved* by <@U0REQ>" in blocks_text(message["blocks"])
    report = fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    assert "Approved." in report[0].params["text"]


def test_edit_posts_the_edited_text_not_the_original(bot_in_process, fake_slack):
    bot = bot_in_process()
    bot.command("Write the release note")
    card = wait_card(fake_slack)

    bot.click(card_ids.EDIT, card.approval_id, REQUESTER)
    opened = fake_slack.wait_for("views.open")[0]
    view = opened.params["view"]
    assert view["callback_id"] == modals.EDIT_DRAFT
    assert view["blocks"][0]["element"]["initial_value"] == "Draft: Write the release note"

    empty = bot.submit(modals.EDIT_DRAFT, card.approval_id, REQUESTER, {modals.DRAFT_BLOCK: " "})
    assert empty.json() == {
        "response_action": "errors",
        "errors": {modals.DRAFT_BLOCK: "Message to post can't be empty."},
    }
    ok = bot.submit(
        modals.EDIT_DRAFT, card.approval_id, REQUESTER, {modals.DRAFT_BLOCK: "Ship it @here"}
    )
    assert ok.status_code == 200 and ok.content in (b"", b"{}")

    posted = fake_slack.wait_for(
        "chat.postMessage", lambda c: "Ship it" in c.params["text"] and "thread_ts" not in c.params
    )
    assert posted[0].params["text"] == "Ship it @\u2060here"
    # The run's thread says what the edit changed, before and after.
    [note] = fake_slack.wait_for(
        "chat.postMessage", lambda c: "edited the draft" in c.params["text"]
    )
    assert note.params["thread_ts"] == card.ts
    assert note.params["text"] == (
        "✏️ <@U0REQ> edited the draft before approving it.\n*Before*\n"
        "&gt; Draft: Write the release note\n*After*\n&gt; Ship it @\u2060here"
    )
    originals = [
        c
        for c in fake_slack.calls("chat.postMessage")
        if c.params.get("text") == "Draft: Write the release note"
    ]
    assert originals == []
    fake_slack.wait_for(
        "chat.update", lambda c: "Edited and approved" in blocks_text(c.params["blocks"])
    )


def test_reject_with_reason_posts_nothing(bot_in_process, fake_slack):
    bot = bot_in_process()
    bot.command("Announce the reorg")
    card = wait_card(fake_slack)
    bot.click(card_ids.REJECT, card.approval_id, REQUESTER)
    view = fake_slack.wait_for("views.open")[0].params["view"]
    assert view["callback_id"] == modals.REJECT
    bot.submit(modals.REJECT, card.approval_id, REQUESTER, {modals.REASON_BLOCK: "not yet"})

    update = fake_slack.wait_for(
        "chat.update", lambda c: "Rejected* by <@U0REQ>" in blocks_text(c.params["blocks"])
    )
    assert ": not yet" in blocks_text(update[0].params["blocks"])
    report = fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    assert "Nothing was posted" in report[0].params["text"]
    assert not [
        c
        for c in fake_slack.calls("chat.postMessage")
        if "Draft: Announce" in c.params.get("text", "")
    ]


def test_second_click_changes_nothing_and_says_who_decided(bot_in_process, fake_slack):
    bot = bot_in_process()
    bot.command("Say hi")
    card = wait_card(fake_slack)
    bot.click(card_ids.APPROVE, card.approval_id, REQUESTER)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == "Draft: Say hi")
    bot.click(card_ids.APPROVE, card.approval_id, REQUESTER)
    note = fake_slack.wait_for("chat.postEphemeral")[0].params
    assert note["user"] == REQUESTER
    assert "already decided" in note["text"] and "Approved* by <@U0REQ>" in note["text"]
    posts = [
        c for c in fake_slack.calls("chat.postMessage") if c.params.get("text") == "Draft: Say hi"
    ]
    assert len(posts) == 1


def test_cards_go_to_the_approvals_channel_and_outcomes_to_the_request_channel(
    bot_in_process, fake_slack
):
    bot = bot_in_process(APPROVALS_CHANNEL="C0APPROVE")
    response = bot.command("Tell the team the build is green")
    assert "<#C0APPROVE>" in response.json()["text"]
    card = wait_card(fake_slack)
    assert card.channel == "C0APPROVE"
    bot.click(card_ids.APPROVE, card.approval_id, REQUESTER, channel="C0APPROVE")
    posted = fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("text") == "Draft: Tell the team the build is green",
    )
    assert posted[0].params["channel"] == "C0REQ"


def test_app_home_lists_what_waits_for_a_decision(bot_in_process, fake_slack):
    bot = bot_in_process(APPROVERS=APPROVER)  # the Home lists what its viewer may see
    bot.command("Plan the offsite")
    card = wait_card(fake_slack)
    assert bot.send(home_opened_body(APPROVER)).status_code == 200
    view = fake_slack.wait_for("views.publish")[0].params
    assert view["user_id"] == APPROVER
    text = blocks_text(view["view"]["blocks"])
    assert "Waiting for approval" in text and "Plan the offsite" in text
    assert any(b.get("block_id") == f"decide:{card.approval_id}" for b in view["view"]["blocks"])
