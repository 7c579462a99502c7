"""Modals and the App Home tab, checked with the fake's copy of Slack's view rules for ordinary,
empty, huge and hostile text: views.open / views.publish must accept them, editors must hold
exactly what will be posted, and what cannot be edited must say why."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bot.domain.models import Approval, Run
from bot.domain.review import FULL_TEXT_LIMIT
from bot.slack.blocks import card, modals
from bot.slack.blocks.home import MAX_LISTED, home_view
from bot.slack.blocks.text import escape
from graphs.action import form_fields
from graphs.actions import MAX_PARAM_CHARS, ActionSpec, default_registry
from tests.adapters.payloads import hitl_value
from tests.fakes.blockkit import validate_view
from tests.support.approvals import TEXTS, action, draft, make_approval
from tests.support.cards import blocks_text
from tests.support.mrkdwn import HOSTILE, live_tokens, unescape

REGISTRY = default_registry(lambda channel, text: "posted", None, "bot@example.com")
EDITABLE = ("ordinary", "empty", "hostile")
TOO_LONG = ("huge", "hostile_huge", "markup_huge")


def action_for(spec: ActionSpec, description: str, params: dict[str, str]) -> Approval:
    payload = {
        "kind": "action",
        "action_type": spec.name,
        "description": description,
        "parameters": params,
        "risk_level": spec.min_risk,
        "fields": form_fields(spec),
    }
    return make_approval(payload, "do it")


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}


def assert_cannot_edit(view: dict[str, Any], *phrases: str) -> None:
    assert validate_view(view) == []
    assert view["title"]["text"] == "Can't edit here"
    assert inputs(view) == {} and "submit" not in view and "callback_id" not in view
    assert view["close"]["text"] == "Close"
    shown = blocks_text(view["blocks"])
    for phrase in phrases:
        assert phrase in shown


# ------------------------------------------------------------------ edit draft


@pytest.mark.parametrize("name", EDITABLE)
def test_draft_editor_holds_exactly_the_draft(name):
    text = TEXTS[name]
    view = modals.edit_modal(draft(text))
    assert validate_view(view) == []
    assert (view["callback_id"], view["private_metadata"]) == (modals.EDIT_DRAFT, "a1b2c3d4")
    assert view["submit"]["text"] == "Approve edited" and view["close"]["text"] == "Cancel"
    [field] = inputs(view).values()
    assert field["block_id"] == modals.DRAFT_BLOCK
    element = field["element"]
    assert element["action_id"] == modals.VALUE and element["multiline"] is True
    # Plain text in, plain text out: the editor shows the raw draft, escaping comes at posting.
    assert element.get("initial_value", "") == text
    assert field["optional"] is False


def test_a_draft_of_exactly_the_editor_limit_is_editable_one_more_is_not():
    at_limit = modals.edit_modal(draft("x" * MAX_PARAM_CHARS))
    assert validate_view(at_limit) == []
    assert inputs(at_limit)[modals.DRAFT_BLOCK]["element"]["initial_value"] == "x" * 3000

    over = modals.edit_modal(draft("x" * (MAX_PARAM_CHARS + 1)))
    assert_cannot_edit(over, "3,001 characters long", "at most 3,000")


@pytest.mark.parametrize("name", TOO_LONG)
def test_a_long_draft_opens_a_modal_saying_why_it_cannot_be_edited(name):
    view = modals.edit_modal(draft(TEXTS[name]))
    assert_cannot_edit(view, "100,000 characters long", "Approve or reject it from the card")


# ------------------------------------------------------------------ edit action


@pytest.mark.parametrize("spec_name", list(REGISTRY.specs))
@pytest.mark.parametrize("name", EDITABLE)
def test_action_editor_has_one_input_per_parameter_prefilled(spec_name, name):
    spec = REGISTRY.specs[spec_name]
    text = TEXTS[name]
    params = {p.name: text for p in spec.params} if text else {}
    view = modals.edit_modal(action_for(spec, text, params))
    assert validate_view(view) == []
    assert (view["callback_id"], view["private_metadata"]) == (modals.EDIT_ACTION, "a1b2c3d4")
    fields = inputs(view)
    assert list(fields) == [modals.param_block(i) for i in range(len(spec.params))]
    for index, param in enumerate(spec.params):
        field = fields[modals.param_block(index)]
        assert field["label"]["text"] == param.label
        assert field["optional"] is (not param.required)
        assert field["element"]["multiline"] is param.multiline
        assert field["element"].get("initial_value", "") == text
    assert live_tokens(blocks_text(view["blocks"])) == []


@pytest.mark.parametrize("name", TOO_LONG)
def test_an_action_with_a_parameter_too_long_to_edit_says_which(name):
    approval = action("Email ops", {"to": "ops@example.com", "subject": "s", "body": TEXTS[name]})
    view = modals.edit_modal(approval)
    assert_cannot_edit(view, "Body is 100,000 characters long", "holds at most 3,000")


def test_edit_modal_picks_the_editor_for_what_is_proposed():
    assert modals.edit_modal(draft("hi"))["title"]["text"] == "Edit draft"
    email = action("Email ops", {"to": "ops@example.com", "subject": "s", "body": "b"})
    fields = inputs(modals.edit_modal(email))
    assert [f["label"]["text"] for f in fields.values()] == ["To", "Subject", "Body"]
    assert list(fields) == ["param:0", "param:1", "param:2"]
    # Any other dict: one input per key, typed from its value; a question can't be edited.
    custom = modals.edit_modal(make_approval({"kind": "custom", "count": 3, "ok": True}))
    assert validate_view(custom) == []
    kinds = {v["label"]["text"]: v["element"]["type"] for v in inputs(custom).values()}
    assert kinds == {
        "Kind": "plain_text_input",
        "Count": "number_input",
        "Ok": "static_select",
    }
    assert_cannot_edit(modals.edit_modal(make_approval(HOSTILE)), "can only be approved")


# ------------------------------------------------------------------ reject


@pytest.mark.parametrize("name", list(TEXTS))
def test_reject_modal_asks_for_an_optional_short_reason(name):
    view = modals.reject_modal(draft(TEXTS[name], request=TEXTS[name] or "x"))
    assert validate_view(view) == []
    assert (view["callback_id"], view["private_metadata"]) == (modals.REJECT, "a1b2c3d4")
    assert view["submit"]["text"] == "Reject"
    reason = inputs(view)[modals.REASON_BLOCK]
    assert reason["optional"] is True
    assert reason["element"]["max_length"] == 1000
    assert "initial_value" not in reason["element"]


# ------------------------------------------------------------------ full text


@pytest.mark.parametrize("name", ["ordinary", "hostile", "huge", "hostile_huge"])
def test_full_text_modal_shows_all_of_the_text_and_nothing_live(name):
    text = TEXTS[name]
    view = modals.full_text_modal(text)
    assert validate_view(view) == []
    assert view["title"]["text"] == "Full text" and "submit" not in view
    sections = [b["text"]["text"] for b in view["blocks"]]
    assert unescape("".join(sections)) == text
    assert live_tokens("".join(sections)) == []


def test_full_text_modal_for_an_empty_text_is_still_a_valid_view():
    view = modals.full_text_modal("")
    assert validate_view(view) == []
    assert blocks_text(view["blocks"]) == "_(no text)_"


def test_text_too_long_for_any_modal_is_cut_at_a_hundred_blocks_and_says_so():
    text = TEXTS["markup_huge"]  # 433,333 characters once escaped: more than 100 sections hold
    view = modals.full_text_modal(text)
    assert validate_view(view) == []
    assert len(view["blocks"]) == modals.MAX_MODAL_BLOCKS
    assert view["blocks"][-1]["text"]["text"] == "_…the rest does not fit in a Slack modal._"
    shown = unescape("".join(b["text"]["text"] for b in view["blocks"][:-1]))
    assert text.startswith(shown) and len(shown) > 60_000


@pytest.mark.parametrize("line", [1, 170, 181, 182, 183, 200, 362, 363, 1450, 2899])
@pytest.mark.parametrize("char", ["\u202e", "&", "<", "x"])
def test_full_text_modal_shows_the_whole_of_any_text_up_to_its_promised_length(char, line):
    # A batch longer than this is not approved as a whole (Review.approvable_at_once): what
    # the domain promises, the modal holds, whatever escaping makes of the characters and
    # wherever the line breaks fall.
    text = ((char * line + "\n") * (FULL_TEXT_LIMIT // (line + 1) + 1))[:FULL_TEXT_LIMIT]
    view = modals.full_text_modal(text)
    assert validate_view(view) == [] and modals.full_text_fits(text)
    assert "".join(b["text"]["text"] for b in view["blocks"]) == escape(text)


def test_review_each_shows_every_call_s_arguments_even_where_none_can_be_edited():
    calls = [
        ("post_message", {"channel": "C1", "text": f"{n} " + "lorem ipsum " * 2500})
        for n in range(10)
    ]
    calls.append(("send_email", {"to": "x@evil.example", "body": "`~hi~`\n*cc*: @here"}))
    approval = make_approval(hitl_value(*calls, allowed=["approve", "reject"]))
    view = modals.each_modal(approval)
    assert validate_view(view) == []
    sections = [b["text"]["text"] for b in view["blocks"] if b["type"] == "section"]
    [last] = [s for s in sections if s.startswith("*11. `send_email`*")]
    assert last.endswith("\n*to*: `x@evil.example`\n*body*: \n```ˋ~hi~ˋ\n*cc*: @\u2060here```")
    shortened = [s for s in sections if "\n*channel*" in s]
    assert len(shortened) == 10 and all(len(s) <= 3000 for s in shortened)
    assert all(s.endswith(modals.TOO_LONG_FOR_SLACK) for s in shortened)
    assert not any(b["type"] == "input" and "param" in b["block_id"] for b in view["blocks"])


def test_review_each_holds_a_call_s_arguments_in_its_own_section_so_ten_calls_still_fit():
    # Ten calls of six editable arguments: divider, section, decision, six inputs and a
    # message each fill Slack's 100 blocks exactly; the arguments add no block.
    args = {f"arg{i}": f"value {i}" for i in range(6)}
    view = modals.each_modal(make_approval(hitl_value(*[("update_record", args)] * 10)))
    assert view["title"]["text"] == "Review each" and validate_view(view) == []
    assert len(view["blocks"]) == 100
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert sum(b["block_id"].startswith("param:") for b in inputs) == 60


def test_review_each_points_to_the_full_text_where_it_holds_a_call_s_arguments():
    calls = [("post_message", {"text": "a" * 4000}), ("post_message", {"text": "b"})]
    view = modals.each_modal(make_approval(hitl_value(*calls)))
    assert validate_view(view) == []
    first = next(b["text"]["text"] for b in view["blocks"] if "aaaa" in str(b))
    assert first.endswith(modals.SHORTENED_HERE) and len(first) <= 3000


# ------------------------------------------------------------------ home


def listed(n: int, text: str = "Draft the VPN note") -> list[Approval]:
    return [
        replace(draft(text, request=text), id=f"appr{i:04d}", requester=f"U{i:04d}")
        for i in range(n)
    ]


def test_home_with_nothing_waiting_says_how_to_start():
    view = home_view([])
    assert validate_view(view) == []
    assert "Nothing is waiting. Start a run with `/agent <request>`." in blocks_text(view["blocks"])


@pytest.mark.parametrize("name", list(TEXTS))
def test_home_lists_what_waits_with_its_buttons(name):
    text = TEXTS[name] or "x"
    pending = listed(3, text)
    view = home_view(pending)
    assert validate_view(view) == []
    shown = blocks_text(view["blocks"])
    assert live_tokens(shown, trusted_users=[a.requester for a in pending]) == []
    assert "*Draft* for <@U0001> in <#C0REQ>, since <!date^1700000000^" in shown
    decide_blocks = [b["block_id"] for b in view["blocks"] if b["type"] == "actions"]
    assert decide_blocks == ["decide:appr0000", "decide:appr0001", "decide:appr0002"]
    if name == "hostile":
        assert HOSTILE in unescape(shown)


def test_home_lists_at_most_fifteen_and_counts_the_rest():
    view = home_view(listed(MAX_LISTED, HOSTILE), MAX_LISTED + 5)
    assert validate_view(view) == []
    decide_blocks = [b for b in view["blocks"] if b["type"] == "actions"]
    assert len(decide_blocks) == MAX_LISTED
    assert blocks_text(view["blocks"]).endswith("…and 5 more (20 waiting in all).")
    buttons = {el["action_id"] for b in decide_blocks for el in b["elements"]}
    assert buttons == {card.APPROVE, card.EDIT, card.REJECT}


def test_home_with_five_hundred_waiting_and_a_huge_kind_stays_within_slacks_limits():
    huge_kind = [
        replace(a, review=replace(a.review, summary="k" * 5000)) for a in listed(MAX_LISTED)
    ]
    runs = [
        (
            Run(f"{i:032x}", "draft", "r" * 5000, "U0REQ", "C0", "C0", "waiting", None, 0.0, 0.0),
            huge_kind[0],
        )
        for i in range(30)
    ]
    view = home_view(huge_kind, 500, runs)
    assert validate_view(view) == []
    assert len(view["blocks"]) <= 100
    assert all(len(b["text"]["text"]) <= 3000 for b in view["blocks"] if b["type"] == "section")
    shown = blocks_text(view["blocks"])
    assert "…and 485 more (500 waiting in all)." in shown
    assert "Your runs" in shown and shown.count("• `") == 10


def test_home_leaves_out_an_actions_block_with_no_buttons():
    [approval] = listed(1)
    bare = replace(approval, review=replace(approval.review, proposals=()))
    view = home_view([bare])
    assert validate_view(view) == [] and all(b["type"] != "actions" for b in view["blocks"])
