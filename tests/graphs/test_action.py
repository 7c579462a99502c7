"""The shipped ``action`` graph with the bot's own adapter and form: what an edit sends.

An approver who corrects one field of a ``call_webhook`` (its URL) must not change the payload
they read: the Edit form keeps JSON held as text as the text submitted, so the bytes POSTed
are the bytes shown, big numbers, duplicate keys and spacing included.
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from bot.agents import adapters
from bot.agents.adapters import Context
from bot.agents.forms import initial_text, read
from bot.domain.models import Decision
from bot.domain.review import Pending
from graphs import action
from graphs.action import ActionProposal, Parameter
from graphs.actions import default_registry
from graphs.addresses import Allowlist
from graphs.outbound import Answer
from graphs.toolbox import Toolbox

PAYLOAD = (
    '{"wallet": "w-1", "amount_btc": 0.123456789012345678,'
    ' "nonce": 12345678901234567890.0, "nonce": 1,\n  "memo":"é"}'
)


class Planner:
    def __init__(self, **parameters: str) -> None:
        self.parameters = parameters

    def with_structured_output(self, _schema: Any) -> Planner:
        return self

    def invoke(self, _messages: Any) -> ActionProposal:
        return ActionProposal(
            action_type="call_webhook",
            description="Pay the invoice",
            parameters=[Parameter(name=k, value=v) for k, v in self.parameters.items()],
            risk_level="high",
        )


class Webhooks:
    """An ``Outbound`` that records each body and answers 200."""

    allowlist = Allowlist()

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def listed(self, url: str) -> bool:
        return False

    def request(self, method: str, url: str, body: bytes | None = None, headers: Any = None):
        self.bodies.append(body or b"")
        return Answer(200)


class Once:
    def once(self, key: str, effect: Any) -> str:
        return effect()


def edit_and_run(planner: Planner, **typed: str) -> tuple[list[bytes], dict[str, str]]:
    """Plan, open Edit as the card would, change ``typed`` fields, submit, run."""
    hooks = Webhooks()
    registry = default_registry(lambda c, t: "", None, "a@example.com", outbound=hooks)
    graph = action.build(Toolbox(planner, registry, Once())).compile(InMemorySaver())
    config = {"configurable": {"thread_id": "t1"}}
    out = graph.invoke({"request": "pay", "requester": "U1", "channel": "C1"}, config)
    (interrupt,) = out["__interrupt__"]
    review = adapters.describe(Pending(interrupt.id, interrupt.value), Context(graph="action"))
    (proposal,) = review.proposals
    shown = {f.name: initial_text(f) for f in proposal.form}  # the Edit modal's inputs
    values, errors = read(proposal.form, {**shown, **typed})
    assert errors == {}
    graph.invoke(Command(resume=Decision("edit", "U2", parameters=values).resume_value()), config)
    return hooks.bodies, shown


def test_a_payload_the_approver_left_alone_is_posted_byte_for_byte():
    planner = Planner(url="https://pay.example/hook-staging", payload=PAYLOAD)
    bodies, shown = edit_and_run(planner, url="https://pay.example/hook")
    assert shown["payload"] == PAYLOAD
    assert bodies == [PAYLOAD.encode()]


def test_a_payload_the_approver_typed_is_posted_as_typed():
    planner = Planner(url="https://pay.example/hook")  # no payload proposed
    typed = '{"amount":1.10,"n":12345678901234567890.0}'
    bodies, _ = edit_and_run(planner, payload=typed)
    assert bodies == [typed.encode()]
