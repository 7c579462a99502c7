"""What the agent proposes, as the card shows it (bot.slack.blocks.proposals), tested on its
own: every block within Slack's limits (a section's 3,000 characters, a message's 50 blocks
and about 13k characters of text) whatever the agent sends; nothing it proposes left out
without the card saying so; and everything the card cut readable in full behind "View full
text" (:func:`~bot.slack.blocks.proposals.full_text`), which :func:`is_long` offers exactly
when something was cut."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.domain.models import Decision
from bot.slack.blocks import card, proposals
from bot.slack.blocks.proposals import MAX_PROPOSALS, REQUEST_LIMIT
from bot.slack.blocks.text import SECTION_LIMIT
from tests.adapters.payloads import hitl_value
from tests.fakes.blockkit import (
    MAX_MESSAGE_BLOCKS,
    MAX_MESSAGE_BLOCKS_TEXT,
    blocks_text_length,
    validate_message_blocks,
)
from tests.support.approvals import BOSS, TEXTS, action, draft, make_approval
from tests.support.cards import blocks_text
from tests.support.mrkdwn import unescape

# Room the rest of a card (header, buttons, notes, status) needs beside the proposals.
CARD_CHROME_BLOCKS = 8


def batch(count: int, body: str = "ok", description: str | None = None) -> Any:
    """A HITL batch of ``count`` calls, each ending with its own marker."""
    calls = [(f"tool_{n}", {"body": f"{body} end-{n}"}) for n in range(count)]
    value = hitl_value(*calls)
    if description is not None:
        for n, request in enumerate(value["action_requests"]):
            request["description"] = f"{description} about-{n}"
    return make_approval(value)


def section_texts(blocks: list[dict[str, Any]]) -> list[str]:
    texts = []
    for block in blocks:
        if "text" in block:
            texts.append(block["text"]["text"])
        texts += [field["text"] for field in block.get("fields", [])]
        texts += [element["text"] for element in block.get("elements", [])]
    return texts


def assert_within_slack_limits(blocks: list[dict[str, Any]]) -> None:
    assert all(len(text) <= SECTION_LIMIT for text in section_texts(blocks))
    assert len(blocks) <= MAX_MESSAGE_BLOCKS - CARD_CHROME_BLOCKS
    assert blocks_text_length(blocks) < MAX_MESSAGE_BLOCKS_TEXT - 2000
    assert validate_message_blocks(blocks) == []


# Slack's limits ------------------------------------------------------------------------------
@pytest.mark.parametrize("count", [1, 2, MAX_PROPOSALS, MAX_PROPOSALS + 1, 60])
@pytest.mark.parametrize("body", ["short", "x" * 50_000, "<&>" * 20_000])
def test_a_batch_of_any_size_and_length_fits_one_card(count, body):
    approval = batch(count, body, description="d" * 5_000)
    assert_within_slack_limits(proposals.proposal_blocks(approval))
    assert validate_message_blocks(card.pending_card(approval)) == []


@pytest.mark.parametrize("name", sorted(TEXTS))
def test_a_draft_of_any_text_fits_one_section(name):
    approval = draft(TEXTS[name], request=TEXTS[name] or "x")
    assert_within_slack_limits(proposals.proposal_blocks(approval))


def test_a_draft_of_many_short_lines_still_fits_once_quoted():
    text = "a\n" * 5_000  # quoting adds "&gt; " to every line
    blocks = proposals.proposal_blocks(draft(text))
    assert_within_slack_limits(blocks)
    assert "Draft shortened for the card: 10,000 characters in all." in blocks_text(blocks)


# nothing left out silently -------------------------------------------------------------------
def test_calls_beyond_the_cards_ten_are_counted_on_it_and_all_in_its_full_text():
    approval = batch(MAX_PROPOSALS + 7)
    blocks = proposals.proposal_blocks(approval)

    shown = blocks_text(blocks)
    assert "end-9" in shown and "end-10" not in shown
    assert blocks[-1]["elements"][0]["text"] == ("…and 7 more; use *Review each* to see them all.")
    assert proposals.is_long(approval)
    whole = proposals.full_text(approval)
    assert all(f"end-{n}" in whole for n in range(MAX_PROPOSALS + 7))
    assert all(f"tool_{n}" in whole for n in range(MAX_PROPOSALS + 7))


def test_ten_calls_are_all_shown_and_say_no_more():
    blocks = proposals.proposal_blocks(batch(MAX_PROPOSALS))
    assert "more; use *Review each*" not in blocks_text(blocks)
    assert all(f"end-{n}" in blocks_text(blocks) for n in range(MAX_PROPOSALS))
    assert not proposals.is_long(batch(MAX_PROPOSALS))


def test_a_call_beyond_the_ten_has_its_description_in_the_full_text():
    approval = batch(MAX_PROPOSALS + 1, description="short")
    whole = proposals.full_text(approval)
    assert f"What {MAX_PROPOSALS + 1}. tool_{MAX_PROPOSALS} does:\nshort about-10" in whole


def test_a_cut_description_is_said_on_the_card_and_whole_behind_view_full_text():
    description = "Send the quarterly numbers. " * 100 + "THE END"
    approval = batch(2, description=description)
    blocks = proposals.proposal_blocks(approval)

    assert "THE END" not in blocks_text(blocks)
    note = "Shortened for the card. Use *View full text* to read all of it."
    assert note in blocks_text(blocks)
    assert proposals.is_long(approval)
    assert f"What 2. tool_1 does:\n{description} about-1" in proposals.full_text(approval)


def test_a_cut_draft_says_how_long_it_is_and_its_full_text_is_all_of_it():
    text = "word " * 2_000 + "LAST WORD"
    approval = draft(text)
    blocks = proposals.proposal_blocks(approval)

    assert "LAST WORD" not in unescape(blocks_text(blocks))
    assert f"Draft shortened for the card: {len(text):,} characters in all." in blocks_text(blocks)
    assert proposals.is_long(approval)
    assert text in proposals.full_text(approval)


def test_a_long_request_is_cut_on_the_card_and_whole_in_the_full_text():
    request = "please " * 200 + "TAIL"
    approval = draft("short", request=request)
    [asked] = [b for b in proposals.proposal_blocks(approval) if "asked:" in b["text"]["text"]]
    assert "TAIL" not in asked["text"]["text"]
    assert len(request) > REQUEST_LIMIT and proposals.is_long(approval)
    assert proposals.full_text(approval).startswith(f"Request:\n{request}")


def test_nothing_cut_offers_no_full_text():
    for approval in (draft("short"), batch(3), action("Send it", {"to": "a@b.co"})):
        assert not proposals.is_long(approval)
        assert "Shortened for the card" not in blocks_text(proposals.proposal_blocks(approval))


# what the card says of a proposal ----------------------------------------------------------------
def test_an_empty_draft_says_so_rather_than_show_nothing():
    [_, body] = proposals.proposal_blocks(draft(""))
    assert body["text"]["text"] == "_(empty draft)_"


def test_an_action_without_description_or_parameters_says_so():
    approval = action("", {})
    text = blocks_text(proposals.proposal_blocks(approval))
    assert "_(no description)_" in text and "_(no parameters)_" in text


def test_a_batch_numbers_its_calls_and_a_single_call_is_not_numbered():
    many = blocks_text(proposals.proposal_blocks(batch(2)))
    assert "*1. `tool_0`*" in many and "*2. `tool_1`*" in many
    one = blocks_text(proposals.proposal_blocks(batch(1)))
    assert "`tool_0`" in one and "1. " not in one


# the version shown: as proposed, or as an edit leaves it ------------------------------------------
def test_an_edited_draft_is_shown_and_read_in_full_as_edited():
    approval = draft("the agent's draft")
    edited = "the reviewer's text " * 300 + "EDITED END"
    edit = Decision("edit", BOSS, text=edited)
    edits = proposals.edited_values(approval, edit)

    shown = blocks_text(proposals.proposal_blocks(approval, edits))
    assert "the agent&#x27;s draft" not in shown and "the agent's draft" not in shown
    assert "reviewer" in shown
    assert proposals.is_long(approval, edits) and not proposals.is_long(approval)
    whole = proposals.full_text(approval, edits)
    assert edited in whole and "the agent's draft" not in whole


def test_the_full_text_of_a_decided_edit_is_the_edit_by_default():
    approval = batch(2, body="original")
    items = [{"type": "edit", "values": {"body": "CHANGED"}}, {"type": "approve"}]
    edit = Decision("edit", BOSS, items=items)
    decided = replace(approval, status="decided", decided_by=BOSS, decision=edit)

    whole = proposals.full_text(decided)
    assert "CHANGED" in whole and "original end-0" not in whole
    assert "original end-1" in whole  # approved as proposed
    assert proposals.full_text(decided, [None, None]) == whole  # no edit given: the decided one


def test_a_batch_that_cannot_be_read_in_full_cannot_be_approved_at_once():
    assert proposals.readable_at_once(batch(3))
    assert not proposals.readable_at_once(batch(3, body="x" * 200_000))


def test_summary_text_names_the_kind_of_request_and_no_untrusted_text():
    approval = draft("<!here> @channel")
    assert proposals.summary_text(approval) == "Approval needed: a draft for <@U0REQ>"
    assert proposals.with_article("action") == "an action"
    assert proposals.with_article("tool call") == "a tool call"
