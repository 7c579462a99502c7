"""LangChain ``HumanInTheLoopMiddleware``, batched: one interrupt for a model turn's calls."""

from __future__ import annotations

import pytest

from bot.agents import adapters
from bot.agents.adapters import Context, hitl
from bot.domain.models import Decision
from bot.domain.review import Pending, Resume
from tests.adapters.payloads import (
    DESCRIPTION,
    EMAIL,
    SEND_EMAIL_SCHEMA,
    batched_accepts,
    hitl_value,
)

OTHER = {"to": "c@d.co", "subject": "Yo", "body": "Hey"}
TOOLS = Context("mailer", tools={"send_email": SEND_EMAIL_SCHEMA})


def pending(*calls, allowed=None) -> Pending:
    calls = calls or (("send_email", dict(EMAIL)),)
    return Pending("i-1", hitl_value(*calls, allowed=allowed), "HumanInTheLoopMiddleware")


def test_matches_the_middlewares_request():
    assert hitl.matches(pending())
    assert adapters.adapter_for(pending()) is hitl


@pytest.mark.parametrize(
    "value",
    [
        {"action_requests": []},
        {"review_configs": []},
        {"action_requests": {}, "review_configs": []},
        "action_requests",
        None,
    ],
)
def test_does_not_match_anything_else(value):
    assert not hitl.matches(Pending("i", value))


def test_one_call_is_one_proposal_with_its_arguments():
    review = adapters.describe(pending(), TOOLS)
    assert (review.shape, review.summary) == ("hitl", "tool call")
    assert review.title == "🛠️ Tool call waiting for approval"
    [proposal] = review.proposals
    assert proposal.title == "send_email"
    # The middleware's own "Tool: …\nArgs: {…}" tail is dropped: the card lists the arguments.
    assert DESCRIPTION.startswith(proposal.description + "\n\nTool: send_email\nArgs:")
    assert dict(proposal.details) == EMAIL
    assert proposal.choices == ("approve", "edit", "reject")


def test_several_calls_are_proposals_in_request_order():
    review = adapters.describe(pending(("send_email", EMAIL), ("send_email", OTHER)), TOOLS)
    assert review.title == "🛠️ 2 tool calls to review"
    assert [dict(p.details)["to"] for p in review.proposals] == ["a@b.co", "c@d.co"]


@pytest.mark.parametrize(
    ("allowed", "choices"),
    [
        (["approve", "reject"], ("approve", "reject")),
        (["reject", "approve"], ("approve", "reject")),
        (["approve"], ("approve",)),
        (["respond"], ("respond",)),
        (["approve", "edit", "respond", "reject"], ("approve", "edit", "respond", "reject")),
        (["approve", "teleport"], ("approve",)),
        (["teleport"], ("approve", "reject")),
        ([], ("approve", "edit", "reject")),
    ],
)
def test_choices_are_the_allowed_decisions_only(allowed, choices):
    [proposal] = adapters.describe(pending(allowed=allowed), TOOLS).proposals
    assert proposal.choices == choices
    assert bool(proposal.form) == ("edit" in choices)


def test_each_call_has_its_own_review_config():
    value = hitl_value(("send_email", EMAIL), ("delete_file", {"path": "/tmp/x"}))
    value["review_configs"][1]["allowed_decisions"] = ["approve", "reject"]
    review = hitl.describe(Pending("i", value), TOOLS)
    assert [p.choices for p in review.proposals] == [
        ("approve", "edit", "reject"),
        ("approve", "reject"),
    ]
    assert review.choices() == ("approve", "reject")


def test_a_call_with_no_review_config_may_be_approved_edited_or_rejected():
    value = hitl_value(("send_email", EMAIL))
    value["review_configs"] = []
    [proposal] = hitl.describe(Pending("i", value), TOOLS).proposals
    assert proposal.choices == ("approve", "edit", "reject")


def test_the_edit_form_is_typed_by_the_tools_own_schema():
    [proposal] = adapters.describe(pending(), TOOLS).proposals
    fields = {f.name: f for f in proposal.form}
    assert list(fields) == ["to", "subject", "body", "cc"]
    assert [(f.kind, f.required, f.initial) for f in fields.values()] == [
        ("text", True, "a@b.co"),
        ("text", True, "Hi"),
        ("text", True, "Hello"),
        ("json", False, None),
    ]
    assert fields["to"].label == "To"


def test_a_schema_in_the_review_config_wins_over_the_tools():
    value = hitl_value(("send_email", EMAIL))
    value["review_configs"][0]["args_schema"] = {
        "type": "object",
        "properties": {"to": {"type": "string", "format": "email"}},
        "required": ["to"],
    }
    [proposal] = hitl.describe(Pending("i", value), TOOLS).proposals
    assert [(f.name, f.kind) for f in proposal.form] == [("to", "email")]


def test_without_a_schema_the_form_follows_the_arguments_types():
    args = {"to": "a@b.co", "retries": 2, "urgent": False}
    [proposal] = adapters.describe(pending(("notify", args)), Context("g")).proposals
    assert [(f.name, f.kind) for f in proposal.form] == [
        ("to", "text"),
        ("retries", "integer"),
        ("urgent", "boolean"),
    ]


def answer(p: Pending, decision: Decision, context: Context = TOOLS) -> Resume:
    return adapters.answer(p, adapters.describe(p, context), decision, context)


def test_approve_approves_every_call():
    p = pending(("send_email", EMAIL), ("send_email", OTHER))
    assert answer(p, Decision("approve", "U1")) == Resume(
        {"decisions": [{"type": "approve"}, {"type": "approve"}]}
    )


def test_reject_with_a_reason_tells_the_model_why():
    resumed = answer(pending(), Decision("reject", "U1", reason="wrong person"))
    assert resumed == Resume({"decisions": [{"type": "reject", "message": "wrong person"}]})
    message = batched_accepts(resumed.value["decisions"][0], ["approve", "edit", "reject"])
    assert "wrong person" in message.content


def test_reject_without_a_reason_sends_no_message():
    resumed = answer(pending(), Decision("reject", "U1"))
    assert resumed == Resume({"decisions": [{"type": "reject"}]})


def test_edit_sends_the_edited_call_as_its_form_came_back():
    # The form as submitted: every field, the one changed among them.
    decision = Decision("edit", "U1", parameters={**EMAIL, "subject": "Hi (edited)"})
    resumed = answer(pending(), decision)
    edited = {**EMAIL, "subject": "Hi (edited)"}
    assert resumed == Resume(
        {"decisions": [{"type": "edit", "edited_action": {"name": "send_email", "args": edited}}]}
    )
    assert batched_accepts(resumed.value["decisions"][0], ["approve", "edit"]) is None


def test_an_argument_emptied_in_the_form_is_dropped_not_the_proposal_s_again():
    # The agent proposed a cc; the approver emptied the field (forms.read leaves out an empty
    # optional field): the call runs without it, never with the proposal's cc.
    proposed = {**EMAIL, "cc": ["attacker@evil.example"]}
    p = pending(("send_email", proposed))
    assert "cc" in {f.name for f in adapters.describe(p, TOOLS).proposals[0].form}
    resumed = answer(p, Decision("edit", "U1", parameters=dict(EMAIL))).value
    assert resumed["decisions"][0]["edited_action"]["args"] == EMAIL


def test_respond_answers_in_place_of_the_tool():
    p = pending(allowed=["approve", "respond"])
    resumed = answer(p, Decision("respond", "U1", message="Already sent yesterday"))
    assert resumed == Resume(
        {"decisions": [{"type": "respond", "message": "Already sent yesterday"}]}
    )
    message = batched_accepts(resumed.value["decisions"][0], ["respond"])
    assert message.content == "Already sent yesterday"


def test_item_decisions_go_back_in_request_order():
    third = {"to": "e@f.co", "subject": "S", "body": "B"}
    p = pending(("send_email", EMAIL), ("send_email", OTHER), ("send_email", third))
    p = Pending(p.id, {**p.value}, p.node)
    for config in p.value["review_configs"]:
        config["allowed_decisions"] = ["approve", "edit", "respond", "reject"]
    items = [
        {"type": "reject", "message": "not this one", "values": None},
        {"type": "edit", "values": {**OTHER, "to": "z@z.co"}, "message": None},
        {"type": "respond", "message": "done by hand"},
    ]
    resumed = answer(p, Decision("each", "U1", items=items))
    assert resumed == Resume(
        {
            "decisions": [
                {"type": "reject", "message": "not this one"},
                {
                    "type": "edit",
                    "edited_action": {"name": "send_email", "args": {**OTHER, "to": "z@z.co"}},
                },
                {"type": "respond", "message": "done by hand"},
            ]
        }
    )


def test_expired_as_reject_tells_the_model_nobody_answered():
    decision = Decision("expire", "scheduler", reason="no answer in 1h", expire_as="reject")
    resumed = answer(pending(("send_email", EMAIL), ("send_email", OTHER)), decision)
    decisions = resumed.value["decisions"]
    assert [d["type"] for d in decisions] == ["reject", "reject"]
    for sent in decisions:
        assert sent["message"] == (
            "Nobody answered before the deadline (no answer in 1h); no person decided this."
        )
        assert "denied" not in sent["message"] and "rejected" not in sent["message"]
        batched_accepts(sent, ["approve", "edit", "reject"])


def test_expired_without_a_reason_still_says_it_expired():
    resumed = answer(pending(), Decision("expire", "scheduler"))
    assert resumed.value["decisions"][0]["message"] == (
        "Nobody answered before the deadline (the request expired); no person decided this."
    )


def test_expired_as_approve_approves_every_call():
    decision = Decision("expire", "scheduler", reason="r", expire_as="approve")
    resumed = answer(pending(("send_email", EMAIL), ("send_email", OTHER)), decision)
    assert resumed == Resume({"decisions": [{"type": "approve"}, {"type": "approve"}]})


@pytest.mark.parametrize(
    ("allowed", "expire_as", "sent"),
    [
        (["approve", "edit", "respond"], "reject", "respond"),
        (["approve", "edit"], "reject", "reject"),  # nothing better: the run fails, safely
        (["edit", "reject"], "approve", "reject"),
        (["respond"], "approve", "respond"),
        (["approve", "reject"], "approve", "approve"),
    ],
)
def test_an_expiry_sends_a_decision_the_tool_allows(allowed, expire_as, sent):
    decision = Decision("expire", "scheduler", reason="late", expire_as=expire_as)
    [resumed] = answer(pending(allowed=allowed), decision).value["decisions"]
    assert resumed["type"] == sent
    if sent in allowed:
        message = batched_accepts(resumed, allowed)
        if sent == "respond":
            assert message.content.startswith("Nobody answered before the deadline")


def test_a_decision_for_one_proposal_applies_to_each():
    assert hitl.item_of(Decision("reject", "U1", reason="no")) == {
        "type": "reject",
        "values": None,
        "message": "no",
    }
    assert hitl.item_of(Decision("respond", "U1", message="m", reason="r"))["message"] == "m"
