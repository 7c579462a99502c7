"""Untrusted text (model output, edits, reasons) stays text everywhere the bot shows it, and text
too long for Block Kit is cut on the card but stays readable in full and is posted in full."""

from __future__ import annotations

from typing import Any

import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from tests.fakes.openai_replies import filler
from tests.fakes.slack import Call, FakeSlack
from tests.support.cards import Card, blocks_text, current, wait_card, wait_cards
from tests.support.mrkdwn import HOSTILE, live_tokens, unescape

REQUESTER = "U0REQ"
SHOWN = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open")


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: escaping and cutting do not depend on the database."""
    return f"sqlite:///{tmp_path / 'bot.db'}"


def shown_text(call: Call) -> str:
    """Everything Slack would render from one call: the message text, blocks or modal."""
    params = call.params
    view = params.get("view") or {}
    return "\n".join(
        [str(params.get("text") or ""), blocks_text(params.get("blocks") or [])]
        + [blocks_text(view.get("blocks") or []), str((view.get("title") or {}).get("text", ""))]
    )


def live_anywhere(fake_slack: FakeSlack) -> dict[str, list[str]]:
    """Live mentions or links not written by the bot itself, per call that showed them."""
    found = {}
    for i, call in enumerate(fake_slack.calls()):
        if call.method in SHOWN:
            tokens = live_tokens(shown_text(call), trusted_users=[REQUESTER])
            if tokens:
                found[f"#{i} {call.method}"] = tokens
    return found


def posts(fake_slack: FakeSlack, card: Card) -> list[Call]:
    """Messages posted on the agent's behalf: top level, in the card's channel, not the card."""
    return [
        c
        for c in fake_slack.calls("chat.postMessage")
        if c.params.get("channel") == card.channel
        and not c.params.get("blocks")
        and not c.params.get("thread_ts")
    ]


def wait_report(fake_slack: FakeSlack, card: Card, timeout: float = 20) -> Call:
    """The run's report under the card (not an edit's note): it comes after the outcome was
    posted."""

    def reported(call: Call) -> bool:
        note = str(call.params.get("text") or "").startswith("✏️")
        return call.params.get("thread_ts") == card.ts and not note

    return fake_slack.wait_for("chat.postMessage", reported, timeout=timeout)[0]


def assert_all_calls_ok(fake_slack: FakeSlack) -> None:
    """Slack accepted everything: no invalid_blocks, msg_too_long, invalid_arguments..."""
    assert [f"{c.method}: {c.response}" for c in fake_slack.calls() if not c.ok] == []


def view_of(call: Call) -> dict[str, Any]:
    assert call.ok, call.response
    return call.params["view"]


# ------------------------------------------------------------------ hostile text


def test_hostile_model_output_cannot_mention_or_link_on_the_card_or_in_the_outcome(
    bot_in_process, fake_slack
):
    bot = bot_in_process()
    bot.command(HOSTILE)
    card = wait_card(fake_slack)

    draft = f"Draft: {HOSTILE}"
    assert draft in unescape(card.text)  # shown, as text
    assert "&lt;!channel&gt;" in card.text and "@\u2060here" in card.text
    assert "<@U0REQ> asked:" in card.text  # the bot's own mention stays live
    assert live_anywhere(fake_slack) == {}
    bot.click(ids.APPROVE, card.approval_id, REQUESTER)
    report = wait_report(fake_slack, card)
    assert report.params["text"].startswith("Approved.")
    [outcome] = posts(fake_slack, card)
    assert unescape(outcome.params["text"]) == draft
    fake_slack.wait_for("chat.update", lambda c: "Approved* by" in shown_text(c))
    assert draft in unescape(blocks_text(current(fake_slack, card)["blocks"]))
    assert live_anywhere(fake_slack) == {}
    assert_all_calls_ok(fake_slack)


def test_hostile_edits_and_rejection_reasons_cannot_mention_or_link(bot_in_process, fake_slack):
    bot = bot_in_process()
    bot.command("Announce the picnic")
    edited_card = wait_card(fake_slack)
    bot.click(ids.EDIT, edited_card.approval_id, REQUESTER)
    fake_slack.wait_for("views.open")
    edit = f"Picnic moved {HOSTILE}"
    values = {modals.DRAFT_BLOCK: edit}
    assert bot.submit(modals.EDIT_DRAFT, edited_card.approval_id, REQUESTER, values).is_success
    wait_report(fake_slack, edited_card)
    [outcome] = posts(fake_slack, edited_card)
    assert unescape(outcome.params["text"]) == edit
    # The edit's before-and-after note quotes it too, and mentions nobody.
    [note] = [
        c for c in fake_slack.calls("chat.postMessage") if "edited the draft" in c.params["text"]
    ]
    assert live_tokens(note.params["text"], trusted_users=[REQUESTER]) == []
    assert edit in unescape(note.params["text"])
    fake_slack.wait_for("chat.update", lambda c: "Edited and approved" in shown_text(c))

    bot.command("Announce the barbecue")
    rejected_card = wait_cards(fake_slack, 2)[1]
    bot.click(ids.REJECT, rejected_card.approval_id, REQUESTER)
    fake_slack.wait_for("views.open", count=2)
    values = {modals.REASON_BLOCK: f"No: {HOSTILE}"}
    assert bot.submit(modals.REJECT, rejected_card.approval_id, REQUESTER, values).is_success
    report = wait_report(fake_slack, rejected_card)
    assert f"No: {HOSTILE}" in unescape(report.params["text"])
    update = fake_slack.wait_for("chat.update", lambda c: "Rejected* by" in shown_text(c))[0]
    assert f"No: {HOSTILE}" in unescape(shown_text(update))
    assert posts(fake_slack, rejected_card) == [outcome]  # nothing more was posted

    # A late click is refused with the outcome, reason included, still as text.
    bot.click(ids.APPROVE, rejected_card.approval_id, REQUESTER)
    note = fake_slack.wait_for("chat.postEphemeral")[0]
    assert "already decided" in note.params["text"]
    assert live_anywhere(fake_slack) == {}
    assert_all_calls_ok(fake_slack)


# ------------------------------------------------------------------ long text


def test_a_30000_character_draft_is_cut_on_the_card_but_readable_and_posted_in_full(
    bot_in_process, fake_slack
):
    bot = bot_in_process()
    bot.command("LONG:30000")
    card = wait_card(fake_slack)
    draft = filler(30_000).strip()  # the graph strips the model's answer

    assert f"Draft shortened for the card: {len(draft):,} characters in all" in card.text
    buttons = {
        el["text"]["text"]: el["action_id"]
        for block in card.blocks
        if block["type"] == "actions"
        for el in block["elements"]
    }
    assert buttons["View full text"] == ids.VIEW_FULL
    bot.click(ids.VIEW_FULL, card.approval_id, REQUESTER)
    full = view_of(fake_slack.wait_for("views.open")[0])
    sections = [b["text"]["text"] for b in full["blocks"]]
    assert "".join(unescape(s) for s in sections) == draft

    bot.click(ids.EDIT, card.approval_id, REQUESTER)
    cannot = view_of(fake_slack.wait_for("views.open", count=2)[1])
    why = blocks_text(cannot["blocks"])
    assert cannot["title"]["text"] == "Can't edit here"
    assert f"Message to post is {len(draft):,} characters long" in why and "at most 3,000" in why
    assert "submit" not in cannot

    bot.click(ids.APPROVE, card.approval_id, REQUESTER)
    report = wait_report(fake_slack, card)
    assert report.params["text"].startswith("Approved.")
    pieces = [c.params["text"] for c in posts(fake_slack, card)]
    assert len(pieces) > 1 and all(len(p) <= 4000 for p in pieces)
    assert "".join(unescape(p) for p in pieces) == draft
    decided = fake_slack.wait_for("chat.update", lambda c: "Approved* by" in shown_text(c))[0]
    assert "View full text" in shown_text(decided)
    assert_all_calls_ok(fake_slack)


def test_a_long_hostile_draft_is_readable_and_posted_in_full_with_nothing_live(
    bot_in_process, fake_slack, fake_openai
):
    # One long line: pieces are cut mid-line, where an escape such as &amp; may fall.
    line = f"{HOSTILE} @channel R&D <b>bold</b> "
    draft = (line * (20_000 // len(line) + 1))[:20_000].strip()
    fake_openai.enqueue(content=draft)
    bot = bot_in_process()
    bot.command("Summarise the incident channel")
    card = wait_card(fake_slack)
    bot.click(ids.VIEW_FULL, card.approval_id, REQUESTER)
    full = view_of(fake_slack.wait_for("views.open")[0])
    assert "".join(unescape(b["text"]["text"]) for b in full["blocks"]) == draft

    bot.click(ids.APPROVE, card.approval_id, REQUESTER)
    wait_report(fake_slack, card)
    pieces = [c.params["text"] for c in posts(fake_slack, card)]
    assert len(pieces) > 1
    # Each piece reads right on its own: no escape such as &amp; split across two messages.
    assert "".join(unescape(p) for p in pieces) == draft
    assert live_anywhere(fake_slack) == {}
    assert_all_calls_ok(fake_slack)
