"""``/agent``, called as Bolt would call it, with a fake ack and respond."""

from __future__ import annotations

import pytest

from bot.domain.models import RunRequest
from bot.slack.listeners.commands import LIMIT, NOT_ANSWERED, NOT_STARTED, agent
from tests.listeners.doubles import APPROVER, REQUESTER, RUN_ID, world


def command(text: str, **extra: object) -> dict[str, object]:
    return {
        "command": "/agent",
        "text": text,
        "user_id": REQUESTER,
        "channel_id": "CTYPED",
        **extra,
    }


def test_a_request_starts_a_run_and_says_where_its_card_will_be():
    w = world()
    agent(w.ack, command("Draft a note about the VPN"), deps=w.deps)
    assert w.log.names() == ["start", "ack"]  # recorded before Slack hears it arrived
    (request,) = w.log.of("start")[0].args
    assert request == RunRequest(
        "draft", "Draft a note about the VPN", REQUESTER, "CTYPED", "CTYPED"
    )
    (said,) = w.ack.calls
    assert said["response_type"] == "ephemeral"
    assert said["text"].startswith(f"Started run `{RUN_ID[:8]}` with the *draft* graph.")
    assert "<#CTYPED>" in said["text"]


def test_a_graph_named_first_and_an_approvals_channel_are_used():
    w = world(approvals_channel="CAPPROVALS")
    agent(w.ack, command("action email ops@example.com the status"), deps=w.deps)
    (request,) = w.log.of("start")[0].args
    assert (request.graph, request.text) == ("action", "email ops@example.com the status")
    assert request.approvals_channel == "CAPPROVALS"
    assert "*action* graph" in w.ack.calls[0]["text"]
    assert "<#CAPPROVALS>" in w.ack.calls[0]["text"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (command(""), "Usage: `/agent <what you want>`"),
        (command("[nope] do it"), "There is no graph called `nope`."),
        (command("actoin email ops"), "Did you mean `action`? Nothing was started."),
        (command("x" * 4001), "That request is too long"),
        ({"command": "/agent", "text": "Draft a note", "channel_id": "C1"}, "couldn't read"),
        (command("Draft a note", user_id=["U1"]), "couldn't read"),
    ],
)
def test_a_malformed_command_is_refused_in_the_ack_and_nothing_starts(body, says):
    w = world()
    agent(w.ack, body, deps=w.deps)
    assert w.log.names() == ["ack"]
    assert w.ack.calls[0]["response_type"] == "ephemeral"
    assert says in w.ack.calls[0]["text"]


def test_when_the_database_does_not_answer_nothing_is_said_to_have_started():
    w = world()
    w.engine.down = True
    agent(w.ack, command("Draft a note"), deps=w.deps)
    assert w.ack.calls == [{"response_type": "ephemeral", "text": NOT_STARTED}]


def test_a_run_whose_write_may_have_landed_is_never_said_not_to_have_started():
    w = world()
    w.engine.unknown = True
    agent(w.ack, command("Draft a note"), deps=w.deps)
    (said,) = w.ack.calls
    assert said["text"].startswith("Sorry, I can't tell whether that run started")
    assert NOT_STARTED not in said["text"]


def test_help_lists_the_graphs_and_who_may_approve():
    w = world()
    agent(w.ack, command("  HELP "), deps=w.deps)
    (said,) = w.ack.calls
    assert said["response_type"] == "ephemeral"
    assert "• `draft` (default): Drafts a message" in said["text"]
    assert "• `action`: Takes an action" in said["text"]
    assert f"Who may approve: <@{APPROVER}> <!subteam^SGROUP>." in said["text"]
    assert w.respond.calls == []


@pytest.mark.parametrize(
    ("text", "asked", "answer"),
    [
        ("pending", ("pending", (REQUESTER,)), f"pending for {REQUESTER}"),
        ("status feedface", ("status", ("feedface", REQUESTER)), f"status for {REQUESTER}"),
        ("Cancel  feedface ", ("cancel", ("feedface", REQUESTER)), f"cancel for {REQUESTER}"),
        ("audit feedface", ("audit", ("feedface", REQUESTER)), f"audit for {REQUESTER}"),
    ],
)
def test_a_lookup_is_acked_empty_first_then_answered_on_the_response_url(text, asked, answer):
    w = world()
    agent(w.ack, command(text), deps=w.deps)
    assert w.log.names() == ["ack", asked[0], "respond"]
    assert w.ack.calls == [{}]
    assert w.log[1].args == asked[1]
    assert w.respond.calls == [{"text": answer, "response_type": "ephemeral"}]


def test_pending_takes_no_argument():
    w = world()
    agent(w.ack, command("pending mine"), deps=w.deps)
    assert w.respond.calls[0]["text"] == "`/agent pending` takes no argument. Try `/agent help`."
    assert w.log.of("pending") == []


def test_a_lookup_the_database_cannot_answer_says_so():
    w = world()
    w.operations.down = True
    agent(w.ack, command("status feedface"), deps=w.deps)
    assert w.ack.calls == [{}]
    assert w.respond.calls == [{"text": NOT_ANSWERED, "response_type": "ephemeral"}]


def test_a_long_answer_is_cut_and_a_dead_response_url_is_not_an_error():
    w = world()
    w.operations.status = lambda text, user: "x" * 10_000  # type: ignore[method-assign]
    agent(w.ack, command("status feedface"), deps=w.deps)
    assert len(w.respond.calls[0]["text"]) <= LIMIT
    w = world()
    w.client.respond_fails = True
    agent(w.ack, command("pending"), deps=w.deps)  # logged, not raised
    assert w.ack.calls == [{}]
