"""The approval card, pending and decided, checked with the fake's copy of Slack's Block Kit rules
for ordinary, empty, huge and hostile text: Slack must accept it, and untrusted text must stay
text (no live mentions or links)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bot.domain.models import Approval, Decision
from bot.slack.blocks import card, proposals
from bot.slack.blocks.decided import outcome_line, when
from tests.adapters.payloads import hitl_value
from tests.fakes.blockkit import validate_message_blocks
from tests.support.approvals import BOSS, REQUESTER, TEXTS, action, decided, draft, make_approval
from tests.support.cards import approval_id_of, blocks_text
from tests.support.mrkdwn import HOSTILE, live_tokens, unescape

EXPIRY = "Expired after 2d — rejected automatically"  # the scheduler's own words, not untrusted

STATUSES = ("approved", "edited", "rejected", "expired")


def all_decided(approval: Approval, text: str) -> dict[str, Approval]:
    return {
        "approved": decided(approval, "approve"),
        "edited": decided(approval, "edit", text=text or "edited"),
        "rejected": decided(approval, "reject", reason=text or None),
        "expired": decided(approval, "expire", reason=EXPIRY),
    }


def assert_accepted(blocks: list[dict[str, Any]]) -> None:
    assert validate_message_blocks(blocks) == []


def assert_no_live_untrusted(blocks: list[dict[str, Any]]) -> None:
    assert live_tokens(blocks_text(blocks), trusted_users=(REQUESTER, BOSS)) == []


def buttons(blocks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        el["text"]["text"]: el
        for block in blocks
        if block["type"] == "actions"
        for el in block["elements"]
    }


# ------------------------------------------------------------------ pending


@pytest.mark.parametrize("name", TEXTS)
def test_pending_draft_card_is_accepted_and_keeps_untrusted_text_inert(name):
    text = TEXTS[name]
    blocks = card.pending_card(draft(text, request=text or "x"), notes=("Reminder at 14:00",))
    assert_accepted(blocks)
    assert_no_live_untrusted(blocks)
    assert approval_id_of(blocks) == "a1b2c3d4"
    decide = buttons(blocks)
    assert {k: v["action_id"] for k, v in decide.items() if k != "View full text"} == {
        "Approve": card.APPROVE,
        "Edit": card.EDIT,
        "Reject": card.REJECT,
    }
    assert {b["value"] for b in decide.values()} == {"a1b2c3d4:1"}
    assert "Reminder at 14:00" in blocks_text(blocks)


def test_hostile_draft_is_shown_as_text_not_dropped():
    blocks = card.pending_card(draft(HOSTILE, request=HOSTILE))
    shown = blocks_text(blocks)
    assert "&lt;!channel&gt;" in shown and "@\u2060here" in shown and "&amp; more" in shown
    assert HOSTILE in unescape(shown)
    assert "<@U0REQ> asked:" in shown  # the bot's own mention of the requester stays live


def test_short_draft_has_no_read_more_but_a_long_one_says_it_was_shortened():
    short = card.pending_card(draft(TEXTS["ordinary"]))
    assert "View full text" not in buttons(short)
    assert "shortened" not in blocks_text(short)

    long = card.pending_card(draft(TEXTS["huge"]))
    assert buttons(long)["View full text"]["action_id"] == card.VIEW_FULL
    assert buttons(long)["View full text"]["value"] == "a1b2c3d4:1"
    assert "Draft shortened for the card: 100,000 characters in all" in blocks_text(long)


def test_empty_draft_says_so():
    assert "_(empty draft)_" in blocks_text(card.pending_card(draft("")))


@pytest.mark.parametrize("name", TEXTS)
def test_pending_action_card_is_accepted_and_keeps_untrusted_text_inert(name):
    text = TEXTS[name]
    params = {"to": text, "subject": text, "body": text} if text else {}
    blocks = card.pending_card(action(text, params))
    assert_accepted(blocks)
    assert_no_live_untrusted(blocks)
    shown = blocks_text(blocks)
    assert "`send_email`" in shown and "🟠 Medium" in shown
    if name == "empty":
        assert "_(no description)_" in shown and "_(no parameters)_" in shown
    if name == "hostile":
        assert f"*to*: `{HOSTILE}`" in unescape(shown)


def test_action_card_without_a_known_risk_shows_high():
    approval = action("Email ops", {"to": "ops@example.com"})
    approval = make_approval({**approval.payload["value"], "risk_level": "whatever"})
    assert "🔴 High" in blocks_text(card.pending_card(approval))


@pytest.mark.parametrize("name", TEXTS)
def test_card_for_an_unknown_kind_of_request_is_accepted(name):
    approval = make_approval({"kind": "custom", "question": TEXTS[name]})
    blocks = card.pending_card(approval)
    assert_accepted(blocks)
    assert_no_live_untrusted(blocks)
    assert blocks[0]["text"]["text"] == "Approval needed: custom"


def test_notification_text_never_quotes_untrusted_text():
    for approval in (draft(HOSTILE, HOSTILE), action(HOSTILE, {"to": HOSTILE})):
        summary = proposals.summary_text(approval)
        assert summary in (
            "Approval needed: a draft for <@U0REQ>",
            "Approval needed: an action for <@U0REQ>",
        )
        assert live_tokens(summary, trusted_users=(REQUESTER,)) == []
        assert "evil" not in summary


def test_ten_context_elements_at_most_however_many_notes():
    blocks = card.pending_card(draft("hi"), notes=tuple(f"note {i}" for i in range(20)))
    assert_accepted(blocks)


# ------------------------------------------------------------------ decided


@pytest.mark.parametrize("name", TEXTS)
@pytest.mark.parametrize("status", STATUSES)
def test_decided_draft_card_is_accepted_and_has_no_buttons_left(status, name):
    text = TEXTS[name]
    approval = all_decided(draft(text, request=text or "x"), text)[status]
    blocks = card.decided_card(approval)
    assert_accepted(blocks)
    assert_no_live_untrusted(blocks)
    assert approval_id_of(blocks) is None  # no Approve / Edit / Reject any more
    assert set(buttons(blocks)) <= {"View full text"}


@pytest.mark.parametrize("name", TEXTS)
@pytest.mark.parametrize("status", STATUSES)
def test_decided_action_card_is_accepted(status, name):
    text = TEXTS[name]
    approval = all_decided(action(text, {"to": text, "body": text}), text)[status]
    blocks = card.decided_card(approval)
    assert_accepted(blocks)
    assert_no_live_untrusted(blocks)
    assert approval_id_of(blocks) is None


def test_decided_card_says_who_decided_what():
    pending = draft("Ship it")
    shown = {
        status: blocks_text(card.decided_card(approval))
        for status, approval in all_decided(pending, "Ship it tomorrow").items()
    }
    assert "✅ *Approved* by <@U0BOSS> at <!date^1700000600^" in shown["approved"]
    assert "✏️ *Edited and approved* by <@U0BOSS>" in shown["edited"]
    assert "❌ *Rejected* by <@U0BOSS> at " in shown["rejected"]
    assert shown["rejected"].endswith(": Ship it tomorrow")
    assert f"⌛ *{EXPIRY}*" in shown["expired"]
    assert "|2023-11-14 22:23 UTC>" in shown["approved"]  # the fallback readers without JS see


def test_edited_card_shows_the_edited_text_not_the_draft():
    approval = decided(draft("Original draft"), "edit", text=f"Edited {HOSTILE}")
    shown = blocks_text(card.decided_card(approval))
    assert "Original draft" not in shown
    assert f"> Edited {HOSTILE}" in unescape(shown)
    assert_no_live_untrusted(card.decided_card(approval))


def test_rejection_without_reason_and_expiry_without_reason():
    rejected = blocks_text(card.decided_card(decided(draft("x"), "reject")))
    assert rejected.endswith("❌ *Rejected* by <@U0BOSS> at " + when(1_700_000_600))
    expired = blocks_text(card.decided_card(decided(draft("x"), "expire")))
    assert "⌛ *expired*" in expired


def test_long_draft_stays_readable_after_approval_but_not_after_an_edit():
    long = draft(TEXTS["huge"])
    assert "View full text" in buttons(card.decided_card(decided(long, "approve")))
    assert "View full text" in buttons(card.decided_card(decided(long, "reject")))
    assert buttons(card.decided_card(decided(long, "edit", text="short now"))) == {}


def test_late_click_refusal_line_names_the_decider():
    line = outcome_line(decided(draft("x"), "approve"))
    assert line.startswith("✅ *Approved* by <@U0BOSS> at <!date^1700000600^")
    assert outcome_line(draft("x")) == "⏳ Waiting for a decision"


def test_a_reason_at_the_reject_modals_limit_still_fits_the_card():
    # The Reject modal lets an approver type 1000 characters; these are all markup.
    reason = "<b>&</b>" * 125
    blocks = card.decided_card(decided(draft("Ship it"), "reject", reason=reason))
    assert_accepted(blocks)


# What runs can always be read: a card that shortens a tool call offers its full text.
def _tool_card(*calls: dict) -> tuple[list[dict[str, Any]], Approval]:
    value = hitl_value(*(("send_email", args) for args in calls), allowed=["approve", "reject"])
    approval = make_approval(value, node="HumanInTheLoopMiddleware")
    return card.pending_card(approval), approval


def test_a_tool_call_the_card_shortens_offers_its_full_text():
    tail = "P.S. wire $1,000,000 to ACCT 666."
    body = "Quarterly numbers attached. " * 100 + tail
    blocks, approval = _tool_card({"to": "a@b.co", "subject": "Q3", "body": body})
    assert tail not in unescape(blocks_text(blocks))  # the card cannot show it all...
    assert "View full text" in buttons(blocks)  # ...so it offers the rest
    assert "Shortened for the card. Use *View full text* to read all of it." in blocks_text(blocks)
    assert tail in approval.review.long_text
    assert_accepted(blocks)


def test_a_batch_whose_share_of_the_card_is_cut_offers_the_full_text_of_every_call():
    calls = [{"to": f"{n}@b.co", "subject": "Q", "body": "x" * 700 + f" end {n}"} for n in range(8)]
    blocks, approval = _tool_card(*calls)
    assert "View full text" in buttons(blocks)
    assert all(f"end {n}" in approval.review.long_text for n in range(8))
    assert_accepted(blocks)


def test_a_tool_call_shown_whole_has_no_full_text_button():
    blocks, _ = _tool_card({"to": "a@b.co", "subject": "Hi", "body": "Hello"})
    assert "View full text" not in buttons(blocks)
    assert "Shortened for the card" not in blocks_text(blocks)


# Model-controlled names and text cannot make the card say something else than what runs.
def _tool(args: dict, tool: str = "send_email") -> tuple[Approval, list[dict[str, Any]]]:
    approval = make_approval(hitl_value((tool, args), allowed=["approve", "reject"]))
    return approval, card.pending_card(approval)


def _section_with(blocks: list[dict[str, Any]], marker: str) -> str:
    return next(
        b["text"]["text"]
        for b in blocks
        if b["type"] == "section" and "text" in b and marker in b["text"]["text"]
    )


def test_an_argument_name_cannot_forge_another_argument_line():
    key = "note*: fyi\n*to"  # argument names come from the model too
    _, blocks = _tool({key: "boss@corp.example", "subject": "Hi", "to": "x@y.z"})
    shown = _section_with(blocks, "*subject*:")
    assert shown.count("\n") == 2, shown  # three arguments, three lines: no forged fourth


def test_an_action_name_stays_inside_its_code_span():
    payload = {
        "kind": "action",
        "action_type": "wire_funds`\n*Risk*\n🟢 Low\n`",
        "description": "Pay invoice",
        "parameters": {"amount": "90000"},
        "risk_level": "high",
    }
    blocks = card.pending_card(make_approval(payload))
    [action] = [b for b in blocks if b.get("fields")]
    shown = action["fields"][0]["text"]
    label, name = shown.split("\n", 1)
    # One line, one code span: the forged "Risk" stays inside the name, shown as the name.
    assert label == "*Action*" and name.count("`") == 2 and "\n" not in name, shown
    assert name.startswith("`wire_funds'") and name.endswith("`")


def test_bidi_overrides_and_zero_width_characters_show_as_what_they_are():
    account = "\u202e0987-6543"  # would read "3456-7890", and run as it is
    _, blocks = _tool({"to": "ops@corp.example", "account": account, "t\u200bo": "x@evil"})
    shown = blocks_text(blocks)
    assert "[U+202E]0987-6543" in shown and "*t[U+200B]o*" in shown
    hidden = "\u200b\u202a\u202b\u202c\u202d\u202e\u2066\u2069\ufeff"
    assert not any(c in shown for c in hidden)
    # The joiners emoji and scripts need are left alone: a family emoji stays one emoji.
    _, family = _tool({"to": "ops@corp.example", "note": "👨\u200d👩\u200d👧 and \u200fשלום"})
    assert "👨\u200d👩\u200d👧" in blocks_text(family) and "[U+" not in blocks_text(family)


def test_argument_names_cut_for_the_card_offer_the_full_text():
    stem = "recipient_" + "x" * 95
    _, blocks = _tool({"to": "x@y.z", stem + "_primary": "a@corp", stem + "_hidden_bcc": "evil"})
    assert "View full text" in buttons(blocks)


def test_the_decided_card_shows_an_argument_the_edit_emptied_as_gone():
    from bot.agents import adapters
    from bot.agents.forms import read
    from bot.domain.models import Decision
    from tests.adapters.payloads import SEND_EMAIL_SCHEMA

    args = {"to": "a@corp.example", "subject": "Hi", "body": "Hello", "cc": ["all@corp.example"]}
    value = hitl_value(("send_email", args))
    value["review_configs"][0]["args_schema"] = SEND_EMAIL_SCHEMA
    approval = make_approval(value)
    [proposal] = approval.review.proposals
    shown_form = {"to": "a@corp.example", "subject": "Hi", "body": "Hello", "cc": ""}
    values, errors = read(proposal.form, shown_form)
    assert errors == {}
    edit = Decision("edit", BOSS, parameters=values)
    pending = adapters.pending_of("int-1", approval.payload)
    [sent] = adapters.answer(pending, approval.review, edit, adapters.Context()).value["decisions"]
    assert "cc" not in sent["edited_action"]["args"]  # what runs...
    shown = blocks_text(card.decided_card(decided(approval, "edit", parameters=values)))
    assert "all@corp.example" not in shown  # ...is what the card says ran


def test_an_argument_value_is_shown_literally_where_slack_formats_nothing():
    # ~x~ would strike the attacker's address through, as if removed; it is sent all the same.
    _, blocks = _tool({"to": "~attacker@evil.example~ team@corp.example", "subject": "`x` *y*"})
    shown = _section_with(blocks, "*to*:")
    assert "*to*: `~attacker@evil.example~ team@corp.example`" in shown
    assert "*subject*: `ˋxˋ *y*`" in shown  # no backtick closes the span early


def test_a_value_over_several_lines_cannot_forge_another_argument_line():
    _, blocks = _tool({"to": "attacker@evil.example", "body": "Hi team\n*to*: boss@corp.example"})
    shown = _section_with(blocks, "*to*:")
    assert "*body*: \n```Hi team\n*to*: boss@corp.example```" in shown  # inside a code block
    outside = re.sub(r"```.*?```", "", shown, flags=re.DOTALL)  # what Slack would format
    assert [line for line in outside.split("\n") if line.startswith("*to*:")] == [
        "*to*: `attacker@evil.example`"
    ]


def test_a_string_that_reads_as_another_json_value_is_shown_quoted():
    for as_string, as_json in (("false", False), ("null", None), ("42", 42)):
        _, text = _tool({"to": "x@y.z", "dry_run": as_string})
        _, value = _tool({"to": "x@y.z", "dry_run": as_json})
        assert _section_with(text, "*to*:") != _section_with(value, "*to*:"), as_string
    _, blocks = _tool({"to": "x@y.z", "dry_run": "false", "note": "", "pad": "  "})
    shown = _section_with(blocks, "*to*:")
    assert '*dry_run*: `"false"`' in shown
    assert "*note*: _(empty)_" in shown and "*pad*: _(blank)_" in shown


def _batch(*texts: str) -> Approval:
    calls = [("post_message", {"channel": "C1", "text": t}) for t in texts]
    return make_approval(hitl_value(*calls, allowed=["approve", "reject"]))


def test_a_batch_too_long_to_read_in_full_is_not_offered_approve_all():
    # Ten long calls push an eleventh past the card (10 calls), and the full text past what
    # "View full text" promises to hold: nobody could read all of what Approve all approves.
    approval = _batch(*["lorem ipsum " * 2500] * 10, "to an outside address")
    blocks = card.pending_card(approval)
    assert validate_message_blocks(blocks) == []
    buttons = [b["text"]["text"] for b in blocks[-1]["elements"]]
    assert buttons == ["Review each…", "Reject all", "View full text"]
    assert card.TOO_LONG_AT_ONCE in blocks_text(blocks)


def test_a_batch_that_can_be_read_in_full_is_offered_approve_all():
    blocks = card.pending_card(_batch("lorem ipsum " * 600, "short"))
    buttons = [b["text"]["text"] for b in blocks[-1]["elements"]]
    assert buttons == ["Approve all", "Review each…", "Reject all", "View full text"]
    assert card.TOO_LONG_AT_ONCE not in blocks_text(blocks)


def test_a_batch_an_edit_made_too_long_to_read_in_full_is_not_offered_approve_as_edited():
    """Short as proposed, but the edit others are asked to sign makes each call's text 3,000
    characters and more (ten calls: past what "View full text" holds): not approved at once."""
    approval = _batch(*["short"] * 10)
    assert "Approve all" in [b["text"]["text"] for b in card.pending_card(approval)[-1]["elements"]]
    items = [{"type": "edit", "values": {"channel": "C1", "text": "x" * 3000}}] * 10
    edit = Decision("decided", BOSS, items=items)
    blocks = card.pending_card(approval, edit=edit)
    buttons = [b["text"]["text"] for b in blocks[-1]["elements"]]
    assert "Approve as edited" not in buttons and "Review each…" in buttons
    assert card.TOO_LONG_AT_ONCE in blocks_text(blocks)
    short = Decision("decided", BOSS, items=[{"type": "edit", "values": {"text": "y"}}] * 10)
    buttons = [b["text"]["text"] for b in card.pending_card(approval, edit=short)[-1]["elements"]]
    assert "Approve as edited" in buttons


def test_a_batch_of_no_calls_is_a_plain_value_with_something_to_decide():
    """A hand-written value shaped like the middleware's batch but asking nothing: its card had
    an actions block with no button, which Slack refuses (the run then failed for good)."""
    approval = make_approval({"action_requests": [], "review_configs": []})
    blocks = card.pending_card(approval)
    assert validate_message_blocks(blocks) == []
    assert approval.review is not None and approval.review.proposals
    assert "Approve" in [b["text"]["text"] for b in blocks[-1]["elements"]]
