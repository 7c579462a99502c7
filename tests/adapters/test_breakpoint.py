"""Static breakpoints: the card names the node and its state; answers are Update or Stop."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage

from bot.agents import adapters
from bot.agents.adapters import Context, breakpoint
from bot.agents.graph_settings import GraphSettings
from bot.domain.models import Decision
from bot.domain.review import Choice, Pending, Stop, Update

STATE = {"drug_name": "aspirin", "analysis": "Safe at 100mg", "dose_mg": 100}


def paused(where="before", state=None, node="review") -> Pending:
    return Pending("bp:1", None, node, None, where, dict(STATE if state is None else state))


def test_only_a_breakpoint_matches():
    assert breakpoint.matches(paused())
    assert breakpoint.matches(paused("after"))
    assert not breakpoint.matches(Pending("i", "question?"))


def test_a_breakpoint_wins_over_whatever_its_value_looks_like():
    hitl_like = {"action_requests": [], "review_configs": []}
    odd = Pending("bp:1", hitl_like, "n", {"properties": {"x": {}}}, "before", {})
    assert adapters.adapter_for(odd) is breakpoint


def test_before_a_node_the_card_says_it_is_about_to_run():
    review = breakpoint.describe(paused("before"), Context("order"))
    assert review.shape == "breakpoint"
    assert review.title == "⏸️ Paused before review"
    [proposal] = review.proposals
    assert proposal.title == "`review` about to run"
    assert (
        proposal.description == "The run paused before `review`. It continues only if you approve."
    )
    assert dict(proposal.details) == {
        "drug_name": "aspirin",
        "analysis": "Safe at 100mg",
        "dose_mg": "100",
    }


def test_after_a_node_the_card_says_it_has_just_run():
    review = breakpoint.describe(paused("after"), Context("order"))
    assert review.title == "⏸️ Paused after review"
    assert review.proposals[0].title == "`review` has just run"
    assert "paused after `review`" in review.proposals[0].description


def test_the_title_is_cut_to_150_characters():
    review = breakpoint.describe(paused(node="n" * 300), Context())
    assert len(review.title) == 150


def test_string_fields_are_editable_except_the_request_input():
    settings = GraphSettings(input="drug_name")
    review = breakpoint.describe(paused(), Context("order", settings))
    [proposal] = review.proposals
    assert proposal.choices == ("approve", "edit", "reject")
    assert [(f.name, f.kind, f.initial) for f in proposal.form] == [
        ("analysis", "text", "Safe at 100mg")
    ]
    no_input = breakpoint.describe(paused(), Context("order"))
    assert [f.name for f in no_input.proposals[0].form] == ["drug_name", "analysis"]


def test_without_string_fields_there_is_nothing_to_edit():
    review = breakpoint.describe(paused(state={"count": 1, "items": [1]}), Context())
    [proposal] = review.proposals
    assert proposal.choices == ("approve", "reject")
    assert proposal.form == ()


@pytest.mark.parametrize(
    "last", [AIMessage("I will refund 20 EUR"), {"role": "ai", "content": "I will refund 20 EUR"}]
)
def test_messages_are_shown_as_the_last_one_only(last):
    state = {"messages": [HumanMessage("refund please"), last]}
    [proposal] = breakpoint.describe(paused(state=state), Context()).proposals
    details = dict(proposal.details)
    assert "messages" not in details
    if isinstance(last, dict):
        assert details["last message"] == '{\n "role": "ai",\n "content": "I will refund 20 EUR"\n}'
    else:
        assert details["last message"] == "I will refund 20 EUR"
    assert proposal.form == ()  # messages are never edited as text


def test_a_long_state_value_is_kept_whole():
    review = breakpoint.describe(paused(state={"report": "r" * 2500}), Context())
    assert review.long_text == "report:\n" + "r" * 2500


def answer(p: Pending, decision: Decision, settings: GraphSettings | None = None):
    context = Context("order", settings or GraphSettings())
    return adapters.answer(p, adapters.describe(p, context), decision, context)


def test_approve_continues_with_no_update():
    assert answer(paused(), Decision("approve", "U1")) == Update(None)


def test_edit_writes_the_edited_keys_then_continues():
    decision = Decision("edit", "U1", parameters={"analysis": "Unsafe"})
    assert answer(paused(), decision) == Update({"analysis": "Unsafe"})
    assert answer(paused(), Decision("edit", "U1", parameters={})) == Update(None)


def test_reject_stops_before_the_node_and_says_nothing_ran():
    stop = answer(paused("before"), Decision("reject", "U1", reason="wrong drug"))
    assert stop == Stop(
        "Rejected: wrong drug. The run stopped before `review`; nothing more was run."
    )
    assert answer(paused(), Decision("reject", "U1")) == Stop(
        "Rejected. The run stopped before `review`; nothing more was run."
    )


def test_reject_after_a_node_says_it_stopped_after_it():
    stop = answer(paused("after"), Decision("reject", "U1"))
    assert stop == Stop("Rejected. The run stopped after `review`; nothing more was run.")


def test_an_expiry_stops_or_continues_as_its_policy_says():
    expired = Decision("expire", "scheduler", reason="no answer in 1h")
    assert answer(paused(), expired) == Stop(
        "Expired: no answer in 1h. The run stopped before `review`; nothing more was run."
    )
    approved = Decision("expire", "scheduler", reason="r", expire_as="approve")
    assert answer(paused(), approved) == Update(None)


ORDER = GraphSettings(
    update={
        "approve": {"pharmacist_decision": "approved", "pharmacist_notes": ""},
        "reject": {"pharmacist_decision": "rejected", "pharmacist_notes": "{reason}"},
        "revise": {"pharmacist_decision": "needs_revision", "pharmacist_notes": "{notes}"},
        "skip": None,
    },
    resume={"approve": "never used at a breakpoint"},
    buttons=(Choice("revise", "Request changes", ("notes",)),),
)


def test_update_settings_say_what_each_button_writes():
    assert answer(paused(), Decision("approve", "U1"), ORDER) == Update(
        {"pharmacist_decision": "approved", "pharmacist_notes": ""}
    )
    assert answer(paused(), Decision("reject", "U1", reason="dose"), ORDER) == Update(
        {"pharmacist_decision": "rejected", "pharmacist_notes": "dose"}
    )
    revise = Decision("revise", "U1", message="halve it")
    assert answer(paused(), revise, ORDER) == Update(
        {"pharmacist_decision": "needs_revision", "pharmacist_notes": "halve it"}
    )
    assert answer(paused(), Decision("skip", "U1"), ORDER) == Update(None)


def test_a_button_the_update_settings_do_not_map_keeps_its_default():
    decision = Decision("edit", "U1", parameters={"analysis": "x"})
    assert answer(paused(), decision, ORDER) == Update({"analysis": "x"})


def test_an_expiry_uses_the_expire_update_first_then_its_policy():
    expired = Decision("expire", "scheduler", reason="late")
    assert answer(paused(), expired, ORDER) == Update(
        {"pharmacist_decision": "rejected", "pharmacist_notes": "late"}
    )
    own = GraphSettings(update={**ORDER.update, "expire": {"pharmacist_decision": "expired"}})
    assert answer(paused(), expired, own) == Update({"pharmacist_decision": "expired"})


def test_the_settings_buttons_are_offered_at_a_breakpoint():
    review = adapters.describe(paused(), Context("order", ORDER))
    assert review.extra == (Choice("revise", "Request changes", ("notes",)),)
    assert adapters.permits(review, Decision("revise", "U1"))
