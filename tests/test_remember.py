"""What a remembered approval covers (bot.core.remember, pure): the offer a request's card makes
and the scope a rule is made and matched with, for every shape of pause."""

from __future__ import annotations

import json

import pytest

from bot.core.remember import Remember, Remembering, arguments, offered, scope_of
from bot.domain.review import Proposal, Review
from bot.domain.signoff import SignOff, Stage

EMAIL = {"to": "ops@example.com", "subject": "Status"}
SHAPES = [
    pytest.param({"kind": "action", "action_type": "send_email", "parameters": EMAIL}, id="action"),
    pytest.param({"type": "tool_approval", "name": "send_email", "args": EMAIL}, id="per_call"),
    pytest.param(
        {"action_requests": [{"name": "send_email", "args": EMAIL}], "review_configs": []},
        id="batched",
    ),
    pytest.param(
        [{"action_request": {"action": "send_email", "args": EMAIL}, "config": {}}], id="inbox"
    ),
]
ONE = Review("action", "t", (Proposal("send_email"),))
REMEMBER = Remember((3600, 28800), ("to",))


@pytest.mark.parametrize("value", SHAPES)
def test_a_rule_covers_the_call_and_the_remembered_arguments_only(value):
    scope = scope_of("action", value, "U0REQ", "C0GEN", REMEMBER)
    assert (scope.graph, scope.action, scope.requester, scope.channel) == (
        "action",
        "send_email",
        "U0REQ",
        "C0GEN",
    )
    assert json.loads(scope.match) == {"to": "ops@example.com"}
    assert arguments(value) == EMAIL
    # The subject is not remembered: another subject is the same scope, another recipient not.
    same = scope_of("action", _with(value, subject="Other"), "U0REQ", "C0GEN", REMEMBER)
    other = scope_of("action", _with(value, to="cfo@example.com"), "U0REQ", "C0GEN", REMEMBER)
    assert same == scope and other != scope


def test_a_plain_pause_is_scoped_by_its_graph_and_a_missing_argument_is_null():
    scope = scope_of("draft", {"kind": "draft", "text": "hi"}, "U0REQ", "C0", Remember((60,)))
    assert (scope.action, scope.match) == ("", "{}")
    missing = scope_of("draft", "a question", "U0REQ", "C0", Remember((60,), ("to",)))
    assert missing.match == '{"to":null}'


def test_no_rule_is_offered_or_matched_where_an_argument_it_matches_on_is_missing():
    remembering = Remembering(graphs={"action": REMEMBER})
    assert remembering.for_request("action", SHAPES[0].values[0]) == REMEMBER
    no_to = {"kind": "action", "action_type": "send_email", "parameters": {"subject": "S"}}
    assert remembering.for_request("action", no_to) is None


def test_only_one_persons_single_call_approve_is_offered():
    alone = SignOff((Stage(),))
    assert offered(REMEMBER, alone, ONE) == (3600, 28800)
    assert offered(None, alone, ONE) == ()
    assert offered(REMEMBER, SignOff((Stage(quorum=2, approvers=("S0",)),)), ONE) == ()
    assert offered(REMEMBER, SignOff((Stage(), Stage()), total=2), ONE) == ()
    assert offered(REMEMBER, SignOff((Stage(),), distinct=True), ONE) == ()
    two = Review("hitl", "t", (Proposal("a"), Proposal("b")))
    assert offered(REMEMBER, alone, two) == ()
    no_approve = Review("plain", "t", (Proposal("x", choices=("respond", "ignore")),))
    assert offered(REMEMBER, alone, no_approve) == ()


def _with(value, **changed):
    if isinstance(value, list):  # Agent Inbox
        request = value[0]["action_request"]
        return [{**value[0], "action_request": {**request, "args": {**request["args"], **changed}}}]
    if "parameters" in value:
        return {**value, "parameters": {**value["parameters"], **changed}}
    if "args" in value:
        return {**value, "args": {**value["args"], **changed}}
    first = value["action_requests"][0]
    return {**value, "action_requests": [{**first, "args": {**first["args"], **changed}}]}
