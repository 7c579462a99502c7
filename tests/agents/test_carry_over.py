"""After an Approve at a static breakpoint (``interrupt_before``), the node's own ``interrupt()``
is answered with the same Approve (``ask_twice: false``) only when it is the one pause the node
makes: a ``Send`` fanned out to the node pauses once per branch, with arguments the breakpoint's
card never showed, and an Edit of the state is not an edit of what the node asks. Real graphs,
the real in-process runner and adapters."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt

from bot.agents import adapters
from bot.agents.driver import Driver
from bot.agents.runner import InProcessRunner
from bot.domain.models import Decision

ANSWERS: list[tuple[str, Any]] = []


class State(TypedDict, total=False):
    request: str
    recipient: str
    result: str


def _sign(state: State) -> dict:
    ANSWERS.append((state["request"], interrupt({"question": f"sign {state['request']}"})))
    return {}


def fanned_out():
    graph = StateGraph(State)
    graph.add_node("sign", _sign)
    branches = [Send("sign", {"request": f"wire {n}00 EUR to acct{n}"}) for n in (1, 9)]
    graph.add_conditional_edges(START, lambda _: branches, ["sign"])
    graph.add_edge("sign", END)
    return graph.compile(checkpointer=InMemorySaver(), interrupt_before=["sign"])


def one_pause():
    def plan(state: State) -> dict:
        return {"recipient": "ops@example.com"}

    def send(state: State) -> dict:
        ANSWERS.append(("send", interrupt({"to": state["recipient"], "amount": 25})))
        return {}

    graph = StateGraph(State)
    graph.add_node("plan", plan)
    graph.add_node("send", send)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "send")
    graph.add_edge("send", END)
    return graph.compile(checkpointer=InMemorySaver(), interrupt_before=["send"])


def _paused(graph: str, thread: str):
    ANSWERS.clear()
    driver = Driver(InProcessRunner({"fan": fanned_out(), "one": one_pause()}))
    pending = driver.start(graph, thread, "go", "U0REQ", "C1").breakpoint
    assert pending is not None
    return driver, pending, adapters.describe(pending, driver.context(graph))


def test_approving_a_breakpoint_before_a_fanned_out_node_asks_each_branch_itself():
    driver, pending, review = _paused("fan", "t1")
    state = driver.answer("fan", "t1", pending, review, Decision("approve", "U0REQ"))
    assert ANSWERS == []  # neither wire was answered by the breakpoint's Approve
    asked = sorted(str(p.value["question"]) for p in state.interrupts)
    assert asked == ["sign wire 100 EUR to acct1", "sign wire 900 EUR to acct9"]


def test_an_edit_at_a_breakpoint_is_not_sent_to_the_node_s_own_pause():
    driver, pending, review = _paused("one", "t2")
    edit = Decision("edit", "U0REQ", parameters={"recipient": "cfo@example.com"})
    state = driver.answer("one", "t2", pending, review, edit)
    assert ANSWERS == []
    [asked] = state.interrupts
    assert asked.value == {"to": "cfo@example.com", "amount": 25}  # asked on a card of its own


def test_approving_a_breakpoint_before_a_node_that_pauses_once_answers_it():
    driver, pending, review = _paused("one", "t3")
    state = driver.answer("one", "t3", pending, review, Decision("approve", "U0REQ"))
    assert [(node, answer["type"]) for node, answer in ANSWERS] == [("send", "approve")]
    assert not state.interrupts


def test_an_expiry_or_a_remembered_rule_approving_a_breakpoint_leaves_the_node_s_pause_asked():
    """Nobody read what the node asks: a person is asked."""
    expiry = Decision("expire", "scheduler", expire_as="approve")
    rule = Decision("approve", "U0MAKER", via="rule", rule=7)
    for n, decision in enumerate((expiry, rule)):
        driver, pending, review = _paused("one", f"t4{n}")
        state = driver.answer("one", f"t4{n}", pending, review, decision)
        assert ANSWERS == []
        [asked] = state.interrupts
        assert asked.value == {"to": "ops@example.com", "amount": 25}
