"""``bot.agents.adapters``: which adapter reads which pause, the graph's settings over the adapters'
defaults, and which decisions a review permits."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from bot.agents import adapters
from bot.agents.adapters import Context, breakpoint, hitl, inbox, per_call, plain, schema
from bot.agents.graph_settings import GraphSettings
from bot.domain.models import Decision
from bot.domain.review import (
    FULL_TEXT_LIMIT,
    Choice,
    Pending,
    Proposal,
    Resume,
    Review,
    Update,
)
from tests.adapters.payloads import EMAIL, hitl_value, inbox_item, per_call_pending

REFUND_SCHEMA = {"title": "Refund", "properties": {"amount": {"type": "number"}}}
SHAPES = [
    (Pending("bp:1", None, "n", None, "before", {"a": "b"}), breakpoint),
    (Pending("i", hitl_value(("send_email", EMAIL))), hitl),
    (per_call_pending(["approve", "edit", "reject"]), per_call),
    (per_call_pending(["edit"]), per_call),
    (Pending("i", [inbox_item()]), inbox),
    (Pending("i", {"ticket": "T-1"}, "n", REFUND_SCHEMA), schema),
    (Pending("i", "Approve?"), plain),
    (Pending("i", {"kind": "draft", "draft": "hi"}), plain),
]


@pytest.mark.parametrize(("pending", "adapter"), SHAPES)
def test_each_shape_goes_to_its_adapter(pending, adapter):
    assert adapters.adapter_for(pending) is adapter
    assert adapters.describe(pending, Context("g")).shape in (
        adapter.__name__.rsplit(".", 1)[1],
        "draft",
    )


def test_plain_is_last_because_it_takes_anything():
    assert adapters.ADAPTERS[-1] is plain
    assert adapters.ADAPTERS[0] is breakpoint


def test_a_pending_pause_survives_storage():
    for pending, _ in SHAPES:
        payload = json.loads(json.dumps(adapters.payload_of(pending)))
        assert adapters.pending_of(pending.id, payload) == pending


def test_a_review_survives_storage():
    for pending, _ in SHAPES:
        review = adapters.describe(pending, Context("g", GraphSettings(buttons=REVISE)))
        assert Review.from_dict(json.loads(json.dumps(review.to_dict()))) == review


def test_pending_of_fills_in_what_an_old_payload_lacks():
    assert adapters.pending_of("i", {}) == Pending("i", None, "", None, None, {})


# settings ---------------------------------------------------------------------------------
TUTORIAL_002 = {
    "type": "approval_request",
    "proposed_action": {
        "action_type": "send_email",
        "description": "Email ops",
        "parameters": {"to": "ops@x.co", "subject": "Q3", "retries": 2},
        "risk_level": "high",
    },
    "message": "Agent wants to: Email ops. Approve?",
}
ACT = GraphSettings(
    edit="proposed_action.parameters",
    resume={
        "approve": {"decision": "approved", "feedback": ""},
        "edit": {"decision": "approved", "modified_parameters": "{values}"},
        "reject": {"decision": "rejected", "feedback": "{reason}"},
    },
)
REVISE = (Choice("revise", "Request changes", ("notes",)),)


def respond(pending: Pending, decision: Decision, settings: GraphSettings):
    context = Context("act", settings)
    return adapters.answer(pending, adapters.describe(pending, context), decision, context)


def test_resume_templates_say_what_interrupt_returns():
    p = Pending("i", TUTORIAL_002, "approval_gate")
    assert respond(p, Decision("approve", "U1"), ACT) == Resume(
        {"decision": "approved", "feedback": ""}
    )
    assert respond(p, Decision("reject", "U1", reason="too risky"), ACT) == Resume(
        {"decision": "rejected", "feedback": "too risky"}
    )


def test_values_as_a_whole_placeholder_is_the_edited_object():
    p = Pending("i", TUTORIAL_002, "approval_gate")
    edited = {"to": "ops@x.co", "subject": "Q3 (edited)", "retries": 3}
    assert respond(p, Decision("edit", "U1", parameters=edited), ACT) == Resume(
        {"decision": "approved", "modified_parameters": edited}
    )


def test_one_edited_value_keeps_its_type():
    settings = GraphSettings(
        resume={
            "edit": {
                "to": "{values.to}",
                "retries": "{values.retries}",
                "line": "n={values.retries}",
            }
        }
    )
    p = Pending("i", TUTORIAL_002, "approval_gate")
    decision = Decision("edit", "U1", parameters={"to": "x@y.co", "retries": 3})
    assert respond(p, decision, settings) == Resume({"to": "x@y.co", "retries": 3, "line": "n=3"})


def test_a_string_template():
    settings = GraphSettings(resume={"approve": "approved", "reject": "rejected: {reason}"})
    p = Pending("i", "Proceed?", "gate")
    assert respond(p, Decision("approve", "U1"), settings) == Resume("approved")
    assert respond(p, Decision("reject", "U1", reason="no"), settings) == Resume("rejected: no")


def test_a_button_the_settings_do_not_map_keeps_the_adapters_default():
    settings = GraphSettings(resume={"approve": "approved"})
    p = Pending("i", "Proceed?", "gate")
    assert respond(p, Decision("reject", "U1"), settings) == Resume({"type": "reject", "by": "U1"})


def test_an_expiry_uses_expire_then_its_policys_template():
    settings = GraphSettings(resume={"approve": "approved", "reject": "rejected: {reason}"})
    p = Pending("i", "Proceed?", "gate")
    late = Decision("expire", "scheduler", reason="late")
    assert respond(p, late, settings) == Resume("rejected: late")
    late_ok = Decision("expire", "scheduler", reason="late", expire_as="approve")
    assert respond(p, late_ok, settings) == Resume("approved")
    own = GraphSettings(resume={**settings.resume, "expire": "timed out ({reason})"})
    assert respond(p, late_ok, own) == Resume("timed out (late)")


def test_update_templates_apply_at_breakpoints_only():
    settings = GraphSettings(update={"approve": {"status": "ok"}})
    at_interrupt = Pending("i", "Proceed?", "gate")
    assert respond(at_interrupt, Decision("approve", "U1"), settings) == Resume(
        {"type": "approve", "by": "U1"}
    )
    at_breakpoint = Pending("bp:1", None, "gate", None, "before", {})
    assert respond(at_breakpoint, Decision("approve", "U1"), settings) == Update({"status": "ok"})


def test_resume_templates_do_not_apply_at_breakpoints():
    settings = GraphSettings(resume={"approve": "approved", "reject": "no"})
    at_breakpoint = Pending("bp:1", None, "gate", None, "after", {})
    assert respond(at_breakpoint, Decision("approve", "U1"), settings) == Update(None)


def test_an_extra_button_is_offered_and_resumes_as_mapped():
    settings = GraphSettings(
        resume={"revise": {"decision": "revise", "notes": "{notes}"}}, buttons=REVISE
    )
    p = Pending("i", {"draft": "hi"}, "gate")
    review = adapters.describe(p, Context("g", settings))
    assert review.extra == REVISE
    decision = Decision("revise", "U1", message="shorter")
    assert adapters.permits(review, decision)
    assert respond(p, decision, settings) == Resume({"decision": "revise", "notes": "shorter"})


def test_the_edit_path_names_what_edit_edits():
    review = adapters.describe(Pending("i", TUTORIAL_002, "approval_gate"), Context("act", ACT))
    [proposal] = review.proposals
    assert [(f.name, f.kind, f.initial) for f in proposal.form] == [
        ("to", "text", "ops@x.co"),
        ("subject", "text", "Q3"),
        ("retries", "integer", 2),
    ]
    assert proposal.choices == ("approve", "edit", "reject")


@pytest.mark.parametrize(
    ("path", "names"),
    [
        ("proposed_action.paramters", "nothing"),
        ("nope.deeper", "nothing"),
        ("message", "a str, not a set of fields,"),
    ],
)
def test_an_edit_path_that_names_no_mapping_takes_edit_off_the_card_and_says_why(
    path, names, caplog
):
    """Never the whole value instead: its keys are not what the graph's edit entry expects."""
    p = Pending("i", TUTORIAL_002, "approval_gate")
    plain_review = adapters.describe(p, Context("act"))
    settings = GraphSettings(edit=path, resume=ACT.resume)
    with caplog.at_level("ERROR", logger="bot.agents.adapters"):
        review = adapters.describe(p, Context("act", settings))
    [proposal] = review.proposals
    assert proposal.choices == ("approve", "reject")
    assert proposal.details[-1] == (
        "Edit",
        f"not offered: the policy file's edit path ({path}) names {names} here",
    )
    assert proposal.details[:-1] == plain_review.proposals[0].details
    assert not adapters.permits(review, Decision("edit", "U1", parameters={"to": "x@y.co"}))
    [logged] = caplog.records
    assert logged.getMessage().startswith(f"POLICY_FILE: graphs.act.edit: {path!r} names {names}")
    assert "its keys: type, proposed_action, message" in logged.getMessage()


def test_without_an_edit_path_edit_edits_the_whole_value():
    p = Pending("i", TUTORIAL_002, "approval_gate")
    [proposal] = adapters.describe(p, Context("act")).proposals
    assert "edit" in proposal.choices
    assert [f.name for f in proposal.form] == ["type", "proposed_action", "message"]


def test_an_edit_path_does_not_apply_to_a_batch():
    value = hitl_value(("send_email", EMAIL), ("send_email", EMAIL))
    p = Pending("i", value)
    settings = GraphSettings(edit="action_requests")
    assert adapters.describe(p, Context("g", settings)) == adapters.describe(p, Context("g"))


# permits ----------------------------------------------------------------------------------
def review_of(*choices: tuple[str, ...], extra=()) -> Review:
    proposals = tuple(Proposal(f"p{i}", choices=c) for i, c in enumerate(choices))
    return Review("hitl", "t", proposals, extra=extra)


def test_a_single_proposal_permits_exactly_its_choices():
    review = review_of(("approve", "reject"))
    assert adapters.permits(review, Decision("approve", "U1"))
    assert adapters.permits(review, Decision("reject", "U1"))
    for forged in ("edit", "respond", "ignore", "answer", "revise", "each"):
        assert not adapters.permits(review, Decision(forged, "U1"))


def test_expiry_and_unknown_reviews_are_always_permitted():
    assert adapters.permits(review_of(("approve",)), Decision("expire", "scheduler"))
    assert adapters.permits(None, Decision("edit", "U1"))


def test_extra_buttons_are_permitted():
    review = review_of(("approve",), extra=REVISE)
    assert adapters.permits(review, Decision("revise", "U1"))
    assert not adapters.permits(review, Decision("other", "U1"))


def test_a_whole_card_decision_on_a_batch_is_approve_or_reject_if_all_allow_it():
    review = review_of(("approve", "edit", "reject"), ("approve", "respond"))
    assert adapters.permits(review, Decision("approve", "U1"))
    assert not adapters.permits(review, Decision("reject", "U1"))
    assert not adapters.permits(review, Decision("edit", "U1"))
    assert not adapters.permits(review_of(("respond",), ("respond",)), Decision("respond", "U1"))


def test_a_batch_too_long_to_read_in_full_is_never_approved_as_a_whole():
    review = review_of(("approve", "reject"), ("approve", "reject"))
    fits = replace(review, long_text="x" * FULL_TEXT_LIMIT)
    assert fits.approvable_at_once() and adapters.permits(fits, Decision("approve", "U1"))
    too_long = replace(review, long_text="x" * (FULL_TEXT_LIMIT + 1))
    assert not too_long.approvable_at_once()
    assert not adapters.permits(too_long, Decision("approve", "U1"))
    assert adapters.permits(too_long, Decision("reject", "U1"))  # nothing runs
    each = Decision("each", "U1", items=[{"type": "approve"}, {"type": "approve"}])
    assert adapters.permits(too_long, each)  # each call decided on its own
    single = replace(review_of(("approve", "reject")), long_text="x" * (FULL_TEXT_LIMIT + 1))
    assert adapters.permits(single, Decision("approve", "U1"))


def test_item_decisions_must_answer_each_proposal_with_its_own_choices():
    review = review_of(("approve", "edit", "reject"), ("approve", "respond"))

    def each(*types: str) -> Decision:
        return Decision("each", "U1", items=[{"type": t} for t in types])

    assert adapters.permits(review, each("edit", "respond"))
    assert adapters.permits(review, each("reject", "approve"))
    assert not adapters.permits(review, each("respond", "approve"))
    assert not adapters.permits(review, each("approve"))
    assert not adapters.permits(review, each("approve", "approve", "approve"))
    assert not adapters.permits(review, Decision("each", "U1", items=[]))


def test_a_described_review_permits_only_what_it_offers():
    p = Pending("i", hitl_value(("send_email", EMAIL), allowed=["approve", "reject"]))
    review = adapters.describe(p, Context("g"))
    assert adapters.permits(review, Decision("approve", "U1"))
    assert not adapters.permits(review, Decision("edit", "U1", parameters={"to": "x"}))
    assert not adapters.permits(review, Decision("respond", "U1", message="m"))
