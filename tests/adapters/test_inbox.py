"""Agent Inbox: a list of ``HumanInterrupt``, answered with one ``HumanResponse`` per item."""

from __future__ import annotations

import pytest

from bot.agents import adapters
from bot.agents.adapters import Context, inbox
from bot.domain.models import Decision
from bot.domain.review import Pending, Resume
from tests.adapters.payloads import inbox_item

TICKET_SCHEMA = {
    "type": "object",
    "properties": {"ticket": {"type": "string"}, "priority": {"type": "integer"}},
    "required": ["ticket"],
}
CONTEXT = Context("support", tools={"close_ticket": TICKET_SCHEMA})


def pending(*items) -> Pending:
    return Pending("i-1", list(items or [inbox_item()]), "ask")


def test_matches_a_list_of_requests_or_a_single_one():
    assert inbox.matches(pending())
    assert inbox.matches(pending(inbox_item(), inbox_item("reopen")))
    assert inbox.matches(Pending("i", inbox_item()))
    assert adapters.adapter_for(pending()) is inbox


@pytest.mark.parametrize(
    "value",
    [
        [],
        [inbox_item(), "not a request"],
        [{"action_request": {"action": "x"}}],
        [{"action_request": "x", "config": {}}],
        {"config": {}},
    ],
)
def test_does_not_match_anything_else(value):
    assert not inbox.matches(Pending("i", value))


def test_each_request_is_a_proposal_with_the_choices_its_config_allows():
    items = (
        inbox_item(),
        inbox_item("reopen", {"ticket": "T-2"}, edit=False, respond=False),
        inbox_item("escalate", accept=False, edit=False, respond=True, ignore=False),
        inbox_item("noop", accept=False, edit=False, respond=False, ignore=False),
    )
    review = adapters.describe(pending(*items), CONTEXT)
    assert (review.shape, review.title, review.summary) == (
        "inbox",
        "📥 Agent waiting for you",
        "request",
    )
    assert [p.title for p in review.proposals] == ["close_ticket", "reopen", "escalate", "noop"]
    assert [p.choices for p in review.proposals] == [
        ("approve", "edit", "respond", "ignore"),
        ("approve", "ignore"),
        ("respond",),
        ("ignore",),
    ]
    first = review.proposals[0]
    assert first.description == "Close this ticket?"
    assert dict(first.details) == {"ticket": "T-1"}


def test_the_edit_form_is_typed_from_the_tool_schema_when_known():
    [proposal] = adapters.describe(pending(), CONTEXT).proposals
    assert [(f.name, f.kind, f.required, f.initial) for f in proposal.form] == [
        ("ticket", "text", True, "T-1"),
        ("priority", "integer", False, None),
    ]
    [untyped] = adapters.describe(pending(), Context("support")).proposals
    assert [(f.name, f.kind) for f in untyped.form] == [("ticket", "text")]
    [no_edit] = adapters.describe(pending(inbox_item(edit=False)), CONTEXT).proposals
    assert no_edit.form == ()


def answer(p: Pending, decision: Decision) -> Resume:
    return adapters.answer(p, adapters.describe(p, CONTEXT), decision, CONTEXT)


def test_each_decision_is_a_human_response():
    p = pending()
    assert answer(p, Decision("approve", "U1")) == Resume([{"type": "accept", "args": None}])
    edit = Decision("edit", "U1", parameters={"ticket": "T-1", "priority": 2})
    assert answer(p, edit) == Resume(
        [
            {
                "type": "edit",
                "args": {"action": "close_ticket", "args": {"ticket": "T-1", "priority": 2}},
            }
        ]
    )
    assert answer(p, Decision("respond", "U1", message="Fixed already")) == Resume(
        [{"type": "response", "args": "Fixed already"}]
    )
    assert answer(p, Decision("ignore", "U1")) == Resume([{"type": "ignore", "args": None}])
    assert answer(p, Decision("reject", "U1", reason="no")) == Resume(
        [{"type": "ignore", "args": None}]
    )


def test_item_decisions_answer_each_request_in_order():
    p = pending(inbox_item(), inbox_item("reopen", {"ticket": "T-2"}), inbox_item("escalate"))
    items = [
        {"type": "respond", "message": "see T-9"},
        {"type": "approve", "message": None},
        {"type": "edit", "values": {"ticket": "T-3"}, "message": None},
    ]
    assert answer(p, Decision("each", "U1", items=items)) == Resume(
        [
            {"type": "response", "args": "see T-9"},
            {"type": "accept", "args": None},
            {"type": "edit", "args": {"action": "escalate", "args": {"ticket": "T-3"}}},
        ]
    )


def test_a_whole_card_decision_answers_every_request():
    p = pending(inbox_item(), inbox_item("reopen"))
    assert answer(p, Decision("approve", "U1")) == Resume([{"type": "accept", "args": None}] * 2)


def test_expired_as_approve_accepts_what_may_be_accepted():
    p = pending(
        inbox_item(),
        inbox_item("b", accept=False),
        inbox_item("c", accept=False, respond=False),
    )
    decision = Decision("expire", "scheduler", reason="no answer in 1h", expire_as="approve")
    expiry = "Nobody answered before the deadline (no answer in 1h); no person decided this."
    assert answer(p, decision) == Resume(
        [
            {"type": "accept", "args": None},
            {"type": "response", "args": expiry},
            {"type": "ignore", "args": None},
        ]
    )


def test_expired_as_reject_says_nobody_answered_or_ignores():
    p = pending(inbox_item(), inbox_item("b", respond=False))
    decision = Decision("expire", "scheduler", reason="no answer in 1h")
    resumed = answer(p, decision)
    assert resumed == Resume(
        [
            {
                "type": "response",
                "args": "Nobody answered before the deadline (no answer in 1h); "
                "no person decided this.",
            },
            {"type": "ignore", "args": None},
        ]
    )


def test_a_single_request_is_answered_as_a_list_too():
    p = Pending("i", inbox_item(), "ask")
    assert answer(p, Decision("approve", "U1")) == Resume([{"type": "accept", "args": None}])
