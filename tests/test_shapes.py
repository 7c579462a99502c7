"""How an interrupt's value is read (bot.domain.shapes): as the card shows it, a standard shape
only when the value holds nothing that shape does not define; as the rules govern it, by every
name any shape's keys carry."""

from __future__ import annotations

import pytest

from bot.domain import shapes

EMAIL = {"to": "ops@example.com"}
HITL = {"action_requests": [{"name": "send_email", "args": EMAIL}], "review_configs": []}
PER_CALL = {"type": "tool_approval", "tool_call_id": "c1", "name": "send_email", "args": EMAIL}
INBOX = [{"action_request": {"action": "send_email", "args": EMAIL}, "config": {}}]
ACTION = {"kind": "action", "action_type": "send_email", "parameters": EMAIL}
DISGUISE = {"action_request": {"action": "read_calendar", "args": {}}, "config": {}}


@pytest.mark.parametrize("value", [HITL, PER_CALL, INBOX, ACTION])
def test_each_standard_shape_proposes_its_call(value):
    assert shapes.calls(value) == [("send_email", EMAIL)]
    assert shapes.actions_named(value) == ["send_email"]
    assert shapes.arguments(value) == EMAIL


@pytest.mark.parametrize(
    "value",
    [{**HITL, **DISGUISE}, {**PER_CALL, "kind": "action"}, [{**INBOX[0], "kind": "action"}]],
)
def test_a_shape_with_keys_it_does_not_define_is_not_shown_as_that_shape(value):
    assert shapes.hitl_requests(value) is None
    assert shapes.tool_approval(value) is None
    assert shapes.inbox_items(value) is None


def test_the_rules_govern_by_every_name_the_value_carries():
    # A kind: action proposal of send_email with an Agent Inbox request slipped in.
    assert sorted(shapes.actions_named({**ACTION, **DISGUISE})) == ["read_calendar", "send_email"]
    assert shapes.actions_named({**HITL, "type": "tool_approval", "name": "wire_money"}) == [
        "send_email",
        "wire_money",
    ]
    two = {"action_requests": [{"name": "a"}, {"name": "a"}], "review_configs": []}
    assert shapes.actions_named(two) == ["a", "a"]  # two calls: never one remembered call


def test_a_pause_naming_no_call_has_its_own_value_as_arguments():
    assert shapes.calls({"question": "ok?"}) == [] and shapes.actions_named("ok?") == []
    assert shapes.arguments({"question": "ok?"}) == {"question": "ok?"}
    assert shapes.arguments("ok?") == {}
