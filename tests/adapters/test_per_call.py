"""``HumanInTheLoopMiddleware(interrupt_mode="per_call")``: one ``tool_approval`` interrupt per
call, with a ``response_schema`` that is a discriminated union of the allowed decisions."""

from __future__ import annotations

import pydantic
import pytest
from langchain_core.tools import StructuredTool, tool
from pydantic import BaseModel

from bot.agents import adapters
from bot.agents.adapters import Context, hitl, per_call, schema
from bot.domain.models import Decision
from bot.domain.review import Pending, Resume
from tests.adapters.payloads import (
    DESCRIPTION,
    EMAIL,
    HAND_WRITTEN_PER_CALL_SCHEMA,
    SEND_EMAIL_SCHEMA,
    per_call_accepts,
    per_call_pending,
    per_call_schema,
    tool_approval,
)

ALL = ["approve", "edit", "reject", "respond"]
CONTEXT = Context("mailer")


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email."""
    return "sent"


def test_the_hand_written_schema_is_what_langchain_publishes():
    real = per_call_schema(["approve", "edit", "reject"], tool_=send_email)
    assert real == HAND_WRITTEN_PER_CALL_SCHEMA


@pytest.mark.parametrize(
    "allowed", [["approve", "edit", "reject"], ["approve", "reject"], ["edit"], ["approve"], ALL]
)
def test_per_call_wins_over_the_schema_adapter(allowed):
    p = per_call_pending(allowed)
    assert per_call.matches(p)
    assert adapters.adapter_for(p) is per_call
    if len(allowed) == 1:  # one decision: a plain object schema the schema adapter would take
        assert schema.matches(p)


def test_only_a_tool_approval_matches():
    assert not per_call.matches(Pending("i", {"type": "approval"}))
    assert not per_call.matches(Pending("i", "tool_approval"))


@pytest.mark.parametrize(
    "allowed",
    [["approve", "edit", "reject"], ["reject", "approve"], ["edit"], ["approve"], ["respond"], ALL],
)
def test_allowed_decisions_are_read_from_the_union(allowed):
    assert sorted(per_call.allowed(per_call_schema(allowed))) == sorted(allowed)


def test_allowed_reads_anyof_and_enum_and_defaults_to_everything():
    assert per_call.allowed(None) == list(hitl.ALLOWED)
    assert per_call.allowed({"oneOf": []}) == list(hitl.ALLOWED)
    union = {"anyOf": [{"properties": {"type": {"enum": ["approve"]}}}, {"type": "null"}]}
    assert per_call.allowed(union) == ["approve"]


@pytest.mark.parametrize("allowed", [["approve", "edit", "reject"], ["edit"], ALL])
def test_the_edit_branch_carries_the_tools_argument_schema(allowed):
    found = per_call.edit_args_schema(per_call_schema(allowed))
    assert found is not None
    assert found["title"] == "send_email"
    assert list(found["properties"]) == ["to", "subject", "body", "cc"]
    assert "$defs" in found


@pytest.mark.parametrize("allowed", [["approve", "reject"], ["approve"]])
def test_without_an_edit_branch_there_is_no_argument_schema(allowed):
    assert per_call.edit_args_schema(per_call_schema(allowed)) is None
    assert per_call.edit_args_schema(None) is None


class Action(BaseModel):
    name: str
    args: dict


@tool
def run_job(job: Action, priority: int = 1) -> str:
    """Run a job."""
    return "ok"


def test_a_tool_model_with_name_and_args_fields_is_not_taken_for_the_edit_branch():
    found = per_call.edit_args_schema(per_call_schema(["approve", "edit"], "run_job", run_job))
    assert found["title"] == "run_job"
    assert list(found["properties"]) == ["job", "priority"]


def test_a_json_schema_tool_has_its_schema_inline():
    json_tool = StructuredTool.from_function(
        func=lambda **kw: "ok",
        name="send_email",
        description="Send an email.",
        args_schema={
            "type": "object",
            "properties": {"to": {"type": "string", "format": "email"}},
            "required": ["to"],
        },
    )
    published = per_call_schema(["approve", "edit"], tool_=json_tool)
    found = per_call.edit_args_schema(published)
    assert found["properties"] == {"to": {"type": "string", "format": "email"}}
    p = Pending("i", tool_approval({"to": "a@b.co"}), "tools", published)
    [proposal] = adapters.describe(p, CONTEXT).proposals
    assert [(f.name, f.kind, f.required) for f in proposal.form] == [("to", "email", True)]


def test_describe_offers_the_allowed_decisions_with_a_typed_form():
    review = adapters.describe(per_call_pending(["approve", "edit", "reject"]), CONTEXT)
    assert (review.shape, review.summary) == ("per_call", "tool call")
    assert review.title == "🛠️ Tool call waiting for approval"
    [proposal] = review.proposals
    assert (proposal.title, proposal.description) == (
        "send_email",
        "Tool execution requires approval",
    )
    assert DESCRIPTION.startswith(proposal.description)
    assert dict(proposal.details) == EMAIL
    assert proposal.choices == ("approve", "edit", "reject")
    assert [(f.name, f.kind, f.required, f.initial) for f in proposal.form] == [
        ("to", "text", True, "a@b.co"),
        ("subject", "text", True, "Hi"),
        ("body", "text", True, "Hello"),
        ("cc", "json", False, None),
    ]


@pytest.mark.parametrize(
    ("allowed", "choices"),
    [
        (["approve", "reject"], ("approve", "reject")),
        (["edit"], ("edit",)),
        (["approve"], ("approve",)),
        (["respond", "approve"], ("approve", "respond")),
    ],
)
def test_choices_are_limited_to_the_schemas(allowed, choices):
    [proposal] = adapters.describe(per_call_pending(allowed), CONTEXT).proposals
    assert proposal.choices == choices
    assert bool(proposal.form) == ("edit" in choices)


def test_a_tool_without_a_schema_is_typed_from_the_graphs_tools():
    p = Pending("i", tool_approval(), "tools", per_call_schema(["approve", "edit"], tool_=None))
    assert not per_call.edit_args_schema(p.response_schema).get("properties")  # any object
    with_tools = Context("mailer", tools={"send_email": SEND_EMAIL_SCHEMA})
    [proposal] = adapters.describe(p, with_tools).proposals
    assert [f.name for f in proposal.form] == ["to", "subject", "body", "cc"]
    [untyped] = adapters.describe(p, CONTEXT).proposals
    assert [(f.name, f.kind) for f in untyped.form] == [
        ("to", "text"),
        ("subject", "text"),
        ("body", "text"),
    ]


def answer(p: Pending, decision: Decision):
    return adapters.answer(p, adapters.describe(p, CONTEXT), decision, CONTEXT)


def test_answers_are_one_decision_langgraph_accepts():
    p = per_call_pending(ALL)
    cases = {
        "approve": (Decision("approve", "U1"), {"type": "approve"}),
        "edit": (
            Decision("edit", "U1", parameters={**EMAIL, "subject": "Hi (edited)"}),
            {
                "type": "edit",
                "edited_action": {
                    "name": "send_email",
                    "args": {**EMAIL, "subject": "Hi (edited)"},
                },
            },
        ),
        "reject": (
            Decision("reject", "U1", reason="not now"),
            {"type": "reject", "message": "not now"},
        ),
        "respond": (
            Decision("respond", "U1", message="sent by hand"),
            {"type": "respond", "message": "sent by hand"},
        ),
    }
    for decision, expected in cases.values():
        resumed = answer(p, decision)
        assert resumed == Resume(expected)
        per_call_accepts(resumed.value, ALL)


def test_an_edit_that_changes_the_tool_name_would_be_refused():
    with pytest.raises(pydantic.ValidationError):
        per_call_accepts({"type": "edit", "edited_action": {"name": "x", "args": EMAIL}}, ALL)


def test_the_first_item_decision_answers_a_single_call():
    items = [{"type": "edit", "values": {**EMAIL, "to": "z@z.co"}, "message": None}]
    resumed = answer(per_call_pending(ALL), Decision("each", "U1", items=items))
    assert resumed.value["edited_action"]["args"] == {**EMAIL, "to": "z@z.co"}


def test_expired_as_reject_says_nobody_answered():
    decision = Decision("expire", "scheduler", reason="no answer in 1h")
    resumed = answer(per_call_pending(["approve", "edit", "reject"]), decision)
    assert resumed == Resume(
        {
            "type": "reject",
            "message": "Nobody answered before the deadline (no answer in 1h); "
            "no person decided this.",
        }
    )
    per_call_accepts(resumed.value, ["approve", "edit", "reject"])


def test_expired_as_approve_approves():
    decision = Decision("expire", "scheduler", expire_as="approve")
    resumed = answer(per_call_pending(["approve", "reject"]), decision)
    assert resumed == Resume({"type": "approve"})


@pytest.mark.parametrize(
    ("allowed", "expire_as", "sent"),
    [
        (["approve", "edit", "respond"], "reject", "respond"),
        (["edit", "reject"], "approve", "reject"),
        (["respond"], "approve", "respond"),
    ],
)
def test_an_expiry_sends_a_decision_the_schema_accepts(allowed, expire_as, sent):
    decision = Decision("expire", "scheduler", reason="late", expire_as=expire_as)
    resumed = answer(per_call_pending(allowed), decision)
    assert resumed.value["type"] == sent
    per_call_accepts(resumed.value, allowed)
