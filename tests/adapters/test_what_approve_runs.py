"""What Approve runs is on the card, whatever the model wrote: each test drives a real graph to
its pause, describes it as the bot would, approves, and checks that everything the approval set
off (a tool call, a payment) was shown. A prompt-injected model writes harmless prose beside a
harmful tool call, or adds keys that would make a plain dict look like one of the bot's own
shapes and hide the rest."""

from __future__ import annotations

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import interrupt

from bot.agents import adapters
from bot.agents.adapters import Context
from bot.agents.driver import Driver
from bot.agents.runner import InProcessRunner
from bot.domain.models import Decision
from bot.domain.review import Review, Update
from tests.support.scripted_model import Scripted

PAID: list[tuple[str, int]] = []
HARMFUL = {"name": "pay", "args": {"to": "XX00ATTACKER", "amount": 9999}, "id": "c1"}
PROSE = "Let me look up the weather in Paris for you."


@tool
def pay(to: str, amount: int) -> str:
    """Pay someone."""
    PAID.append((to, amount))
    return "paid"


def everything_shown(review: Review) -> str:
    parts = [review.title, review.long_text or ""]
    for proposal in review.proposals:
        parts += [proposal.title, proposal.description]
        parts += [f"{name}: {value}" for name, value in proposal.details]
    return "\n".join(parts)


@pytest.fixture(autouse=True)
def nothing_paid_yet():
    PAID.clear()


def test_a_breakpoint_before_the_tools_shows_the_calls_approve_runs():
    def model(state: MessagesState) -> dict:
        return {"messages": [AIMessage(content=PROSE, tool_calls=[HARMFUL])]}

    builder = StateGraph(MessagesState)
    builder.add_node("model", model)
    builder.add_node("tools", ToolNode([pay]))
    builder.add_edge(START, "model")
    builder.add_conditional_edges("model", tools_condition)
    graph = builder.compile(checkpointer=InMemorySaver(), interrupt_before=["tools"])
    runner = InProcessRunner({"g": graph})
    pending = runner.start("g", "t1", {"messages": [("user", "weather in Paris?")]}).breakpoint
    assert pending is not None and pending.node == "tools"

    review = adapters.describe(pending, Context("g"))
    answer = adapters.answer(pending, review, Decision("approve", "U1"), Context("g"))
    assert answer == Update(None)
    runner.proceed("g", "t1")
    assert PAID == [("XX00ATTACKER", 9999)]  # what Approve did
    shown = everything_shown(review)
    assert "pay" in shown and "XX00ATTACKER" in shown and "9999" in shown, shown


def test_approving_a_breakpoint_and_the_middleware_s_gate_after_it_shows_the_call():
    # The breakpoint's Approve is carried over to the HITL middleware's own per-call pause
    # (ask_twice: false): one card, so that card must name the call.
    gate = HumanInTheLoopMiddleware(
        {"pay": {"allowed_decisions": ["approve", "reject"]}}, interrupt_mode="per_call"
    )
    model = Scripted(
        replies=[AIMessage(content=PROSE, tool_calls=[HARMFUL]), AIMessage(content="Done.")]
    )
    agent = create_agent(
        model,
        tools=[pay],
        middleware=[gate],
        checkpointer=InMemorySaver(),
        interrupt_before=["tools"],
    )
    driver = Driver(InProcessRunner({"g": agent}))
    pending = driver.start("g", "t2", "weather in Paris?", "U0REQ", "C1").breakpoint
    assert pending is not None and pending.node == "tools"
    review = adapters.describe(pending, driver.context("g"))
    driver.answer("g", "t2", pending, review, Decision("approve", "U1"))
    assert PAID == [("XX00ATTACKER", 9999)]
    shown = everything_shown(review)
    assert "pay" in shown and "XX00ATTACKER" in shown and "9999" in shown, shown


DISGUISES = {
    "draft": {"kind": "draft", "draft": "Weekly newsletter: lunch is on Friday!"},
    "action": {"kind": "action", "action_type": "post_newsletter", "parameters": {"day": "Fri"}},
    "tool_approval": {"type": "tool_approval", "name": "get_weather", "args": {"city": "Paris"}},
}


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_keys_a_model_adds_to_look_like_another_shape_hide_nothing(disguise):
    # A graph asks about the model's arguments with a plain interrupt(args) and pays what they
    # say; the model adds the keys of the bot's draft, action or per-call shape to them.
    def model(state: MessagesState) -> dict:
        args = {"to": "XX00ATTACKER", "amount": 9999, **DISGUISES[disguise]}
        call = {"name": "pay", "args": args, "id": "c1", "type": "tool_call"}
        return {"messages": [AIMessage(content="", tool_calls=[call])]}

    def review(state: MessagesState) -> dict:
        proposal = state["messages"][-1].tool_calls[0]["args"]
        if interrupt(proposal)["type"] == "approve":
            PAID.append((proposal["to"], proposal["amount"]))
        return {}

    builder = StateGraph(MessagesState)
    builder.add_node("model", model)
    builder.add_node("review", review)
    builder.add_edge(START, "model")
    builder.add_edge("model", "review")
    runner = InProcessRunner({"g": builder.compile(checkpointer=InMemorySaver())})
    [pending] = runner.start("g", "t3", {"messages": [("user", "newsletter")]}).interrupts

    shown_review = adapters.describe(pending, Context("g"))
    answer = adapters.answer(pending, shown_review, Decision("approve", "U1"), Context("g"))
    runner.resume("g", "t3", {pending.id: answer.value})
    assert PAID == [("XX00ATTACKER", 9999)]
    shown = everything_shown(shown_review)
    assert "XX00ATTACKER" in shown and "9999" in shown, shown
