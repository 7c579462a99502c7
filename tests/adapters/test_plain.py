"""Plain ``interrupt(value)``: strings, any dict, and the bot's own ``draft`` / ``action``."""

from __future__ import annotations

import pytest

from bot.agents import adapters
from bot.agents.adapters import Context, plain
from bot.domain.models import Decision
from bot.domain.review import Choice, FormField, Pending, Resume

CONTEXT = Context("mailer")


def pending(value) -> Pending:
    return Pending("i-1", value, "ask")


@pytest.mark.parametrize(
    "value",
    [
        "Approve?",
        None,
        {"to": "a@b.co"},
        {"kind": "draft", "draft": "hi"},
        [1, 2],
        [{"action_request": {}}],  # not a full Agent Inbox request
        {"action_requests": [], "review_configs": None},  # not a HITL request
        {"type": "something_else"},
    ],
)
def test_anything_no_other_adapter_claims_is_plain(value):
    assert plain.matches(pending(value))
    assert adapters.adapter_for(pending(value)) is plain


def test_a_string_question_is_asked_with_approve_respond_reject():
    review = adapters.describe(pending("Ship the release?"), CONTEXT)
    assert review.shape == "plain"
    assert review.title == "Approval needed: mailer"
    [proposal] = review.proposals
    assert proposal.title == "Approval needed: mailer"
    assert proposal.description == "Ship the release?"
    assert proposal.choices == ("approve", "respond", "reject")
    assert proposal.form == ()
    assert review.long_text == "Ship the release?"  # behind View full text, if the card cuts it


def test_a_graph_without_a_name_is_called_agent():
    review = plain.describe(pending("?"), Context())
    assert review.title == "Approval needed: agent"
    assert plain.describe(pending("?"), None).title == "Approval needed: agent"


def test_none_asks_an_empty_question():
    [proposal] = plain.describe(pending(None), CONTEXT).proposals
    assert proposal.description == ""


def test_a_long_question_is_kept_whole_as_long_text():
    question = "x" * 2001
    review = plain.describe(pending(question), CONTEXT)
    assert review.long_text == question
    assert plain.describe(pending(None), CONTEXT).long_text is None  # nothing to read


def test_a_non_string_scalar_question_is_shown_as_json():
    [proposal] = plain.describe(pending([1, "é"]), CONTEXT).proposals
    assert proposal.description == '[\n 1,\n "é"\n]'


def test_a_dict_shows_each_key_and_edits_each_as_its_own_type():
    value = {
        "to": "a@b.co",
        "count": 3,
        "ratio": 0.5,
        "urgent": True,
        "body": "long " * 20,
        "tags": ["a", "b"],
    }
    review = plain.describe(pending(value), CONTEXT)
    [proposal] = review.proposals
    assert proposal.choices == ("approve", "edit", "reject")
    assert dict(proposal.details) == {
        "to": "a@b.co",
        "count": "3",
        "ratio": "0.5",
        "urgent": "true",
        "body": "long " * 20,
        "tags": '[\n "a",\n "b"\n]',
    }
    kinds = {f.name: (f.kind, f.initial) for f in proposal.form}
    assert kinds == {
        "to": ("text", "a@b.co"),
        "count": ("integer", 3),
        "ratio": ("number", 0.5),
        "urgent": ("boolean", True),
        "body": ("multiline", "long " * 20),
        "tags": ("json", ["a", "b"]),
    }
    assert review.long_text is not None and review.long_text.startswith("to:\na@b.co\n\ncount:")


def test_a_dict_with_a_long_value_keeps_the_whole_text():
    value = {"title": "t", "body": "b" * 2001}
    review = plain.describe(pending(value), CONTEXT)
    assert review.long_text == f"title:\nt\n\nbody:\n{'b' * 2001}"


def test_a_draft_is_edited_as_one_multiline_text():
    review = plain.describe(pending({"kind": "draft", "draft": "Hello team"}), CONTEXT)
    assert (review.shape, review.summary, review.long_text) == ("draft", "draft", "Hello team")
    assert review.title == "📝 Draft waiting for approval"
    [proposal] = review.proposals
    assert proposal.description == "Hello team"
    assert proposal.choices == ("approve", "edit", "reject")
    assert proposal.form == (FormField("text", "Message to post", "multiline", True, "Hello team"),)


def test_a_draft_that_says_its_rounds_offers_request_changes_until_the_last_round():
    value = {"kind": "draft", "draft": "Hello team", "round": 1, "rounds": 3}
    review = plain.describe(pending(value), CONTEXT)
    assert review.extra == (Choice("revise", "Request changes", ("notes",), 3),)
    assert review.in_round(2).extra == review.extra
    assert review.in_round(3).extra == ()
    decision = Decision("revise", "U0A", message="shorter")
    answer = adapters.answer(pending(value), review, decision, CONTEXT)
    assert answer == Resume({"type": "revise", "by": "U0A", "message": "shorter"})
    for rounds in (None, 1, True, "3"):
        bare = plain.describe(pending({"kind": "draft", "draft": "x", "rounds": rounds}), CONTEXT)
        assert bare.extra == ()


def test_an_action_may_narrow_its_buttons():
    value = {
        "kind": "action",
        "action_type": "post",
        "parameters": {},
        "choices": ["approve", "reject"],
    }
    [proposal] = plain.describe(pending(value), CONTEXT).proposals
    assert proposal.choices == ("approve", "reject")
    value["choices"] = ["launch"]  # nothing the bot knows: the usual three
    [proposal] = plain.describe(pending(value), CONTEXT).proposals
    assert proposal.choices == ("approve", "edit", "reject")


def test_an_action_shows_its_parameters_and_risk():
    value = {
        "kind": "action",
        "action_type": "send_email",
        "description": "Mail ops",
        "parameters": {"to": "ops@x.co", "retries": 2},
    }
    review = plain.describe(pending(value), CONTEXT)
    assert (review.shape, review.summary) == ("action", "action")
    [proposal] = review.proposals
    assert (proposal.title, proposal.description, proposal.risk) == (
        "send_email",
        "Mail ops",
        "high",
    )
    assert dict(proposal.details) == {"to": "ops@x.co", "retries": "2"}
    assert [(f.name, f.kind) for f in proposal.form] == [("to", "text"), ("retries", "integer")]


def test_an_action_with_field_specs_uses_them():
    value = {
        "kind": "action",
        "action_type": "post",
        "risk_level": "low",
        "parameters": {"channel": "C123", "text": "hi"},
        "fields": [
            {"name": "channel", "label": "Channel", "kind": "channel"},
            {"name": "text", "kind": "multiline", "required": False},
            {"label": "no name: skipped"},
        ],
    }
    [proposal] = plain.describe(pending(value), CONTEXT).proposals
    assert proposal.risk == "low"
    assert proposal.form == (
        FormField("channel", "Channel", "channel", True, "C123"),
        FormField("text", "text", "multiline", False, "hi"),
    )


def test_answers_are_the_documented_resume_dict():
    p = pending("ok?")
    review = plain.describe(p, CONTEXT)

    def answer(decision: Decision):
        return adapters.answer(p, review, decision, CONTEXT)

    assert answer(Decision("approve", "U1")) == Resume({"type": "approve", "by": "U1"})
    assert answer(Decision("edit", "U1", parameters={"to": "x@y.co"})) == Resume(
        {"type": "edit", "by": "U1", "parameters": {"to": "x@y.co"}}
    )
    assert answer(Decision("edit", "U1", text="new draft")) == Resume(
        {"type": "edit", "by": "U1", "text": "new draft"}
    )
    assert answer(Decision("reject", "U1", reason="no")) == Resume(
        {"type": "reject", "by": "U1", "reason": "no"}
    )
    assert answer(Decision("respond", "U1", message="use v2")) == Resume(
        {"type": "respond", "by": "U1", "message": "use v2"}
    )


@pytest.mark.parametrize("expire_as", ["reject", "approve"])
def test_an_expiry_acts_as_its_policy_and_says_so(expire_as):
    p = pending("ok?")
    decision = Decision("expire", "scheduler", reason="no answer in 1h", expire_as=expire_as)
    answer = adapters.answer(p, plain.describe(p, CONTEXT), decision, CONTEXT)
    assert answer == Resume(
        {"type": expire_as, "by": "scheduler", "expired": True, "reason": "no answer in 1h"}
    )


def test_an_expiry_without_a_reason_still_gives_one():
    p = pending("ok?")
    answer = plain.answer(p, plain.describe(p, CONTEXT), Decision("expire", "scheduler"))
    assert answer.value["reason"] == "expired"
