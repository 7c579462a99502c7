"""A node that takes its answer and raises because of it refuses that answer
(:class:`~bot.core.ports.ResumeRefused`): the thread still waits on the same interrupt, and the
refused answer is taken back out of the checkpoint, so the next answer is the one the node gets
(LangGraph would hand it the stored one again). Anything else is raised as it came."""

from __future__ import annotations

import json
from typing import Any, TypedDict

import httpx
import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware, HumanInTheLoopMiddleware
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import BaseTool, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, field_validator

from bot.agents.runner import InProcessRunner, ResumeRefused
from tests.support.scripted_model import Scripted


class State(TypedDict, total=False):
    first: str
    seats: int


def _runner(ask: Any) -> InProcessRunner:
    g = StateGraph(State)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return InProcessRunner({"g": g.compile(checkpointer=InMemorySaver())})


def _pairs(state: State) -> State:
    seats = interrupt("how many seats?")
    if seats % 2:
        raise ValueError(f"seats come in pairs, not {seats}")
    return {"seats": seats}


def test_an_answer_the_node_refuses_is_taken_back_and_the_next_one_is_handed_over():
    runner = _runner(_pairs)
    [pending] = runner.start("g", "t", {}).interrupts
    with pytest.raises(ResumeRefused) as refused:
        runner.resume("g", "t", {pending.id: 3})
    assert str(refused.value) == "seats come in pairs, not 3"
    assert refused.value.interrupts == (pending.id,)
    assert runner.state("g", "t").waiting_on(pending.id)  # the same interrupt, still
    done = runner.resume("g", "t", {pending.id: 4})
    assert done.finished and done.values["seats"] == 4


def test_the_refusal_of_a_node_s_second_answer_keeps_its_first():
    def two(state: State) -> State:
        first = interrupt("first?")
        seats = interrupt("how many seats?")
        if seats % 2:
            raise ValueError("odd")
        return {"first": first, "seats": seats}

    runner = _runner(two)
    [first] = runner.start("g", "t", {}).interrupts
    [second] = runner.resume("g", "t", {first.id: "A"}).interrupts
    with pytest.raises(ResumeRefused):
        runner.resume("g", "t", {second.id: 3})
    assert runner.state("g", "t").waiting_on(second.id)
    done = runner.resume("g", "t", {second.id: 2})
    assert done.values == {"first": "A", "seats": 2}


def test_an_error_that_may_pass_is_raised_as_it_came():
    def flaky(state: State) -> State:
        seats = interrupt("how many seats?")
        raise ConnectionError(f"the booking service dropped {seats}")

    runner = _runner(flaky)
    [pending] = runner.start("g", "t", {}).interrupts
    with pytest.raises(ConnectionError):
        runner.resume("g", "t", {pending.id: 3})


def test_a_node_that_raises_before_it_takes_the_answer_does_not_refuse_it():
    runs = []

    def broken(state: State) -> State:
        runs.append(1)
        if len(runs) > 1:  # only once resumed: before it gets to its answer
            raise KeyError("config")
        return {"seats": interrupt("how many seats?")}

    runner = _runner(broken)
    [pending] = runner.start("g", "t", {}).interrupts
    with pytest.raises(KeyError):
        runner.resume("g", "t", {pending.id: 3})


def test_an_answer_its_response_schema_refuses_is_refused_and_nothing_is_kept():
    class Seats(BaseModel):
        count: int

        @field_validator("count")
        @classmethod
        def in_pairs(cls, count: int) -> int:
            if count % 2:
                raise ValueError(f"seats come in pairs, not {count}")
            return count

    def ask(state: State) -> State:
        return {"seats": interrupt("how many seats?", response_schema=Seats).count}

    runner = _runner(ask)
    [pending] = runner.start("g", "t", {}).interrupts
    with pytest.raises(ResumeRefused) as refused:
        runner.resume("g", "t", {pending.id: {"count": 3}})
    assert "seats come in pairs, not 3" in str(refused.value)
    assert runner.state("g", "t").waiting_on(pending.id)
    done = runner.resume("g", "t", {pending.id: {"count": 4}})
    assert done.finished and done.values["seats"] == 4


# LangChain's per-call tool gate (HumanInTheLoopMiddleware): the approved tool runs in the task
# that asked, right after the answer. ``post`` posts (to POSTED), then cannot read the reply
# when its body is "no json": the call acted, and its error is no refusal of the approval.
POSTED: list[str] = []


@tool
def post(body: str) -> str:
    """Post a message."""
    POSTED.append(body)
    if body == "no json":
        raise ValueError("Expecting value: line 1 column 1 (char 0)")
    return "posted"


def _agent(tools: list[Any], middleware: list[Any], body: str) -> InProcessRunner:
    call = {"name": "post", "args": {"body": body}, "id": "c1"}
    model = Scripted(replies=[AIMessage(content="", tool_calls=[call]), AIMessage(content="Done.")])
    agent = create_agent(model, tools=tools, middleware=middleware, checkpointer=InMemorySaver())
    POSTED.clear()
    return InProcessRunner({"g": agent})


def _gated(body: str) -> InProcessRunner:
    gate = HumanInTheLoopMiddleware(
        {"post": {"allowed_decisions": ["approve", "reject"]}}, interrupt_mode="per_call"
    )
    return _agent([post], [gate], body)


def test_an_approved_tool_that_acted_and_then_raised_did_not_refuse_the_approval():
    runner = _gated("no json")
    [pending] = runner.start("g", "t", {"messages": [("user", "post it")]}).interrupts
    with pytest.raises(ValueError, match="Expecting value") as raised:
        runner.resume("g", "t", {pending.id: {"type": "approve"}})
    assert not isinstance(raised.value, ResumeRefused)
    assert POSTED == ["no json"]


def test_a_decision_the_gate_refuses_before_the_tool_runs_is_refused():
    runner = _gated("hello")
    [pending] = runner.start("g", "t", {"messages": [("user", "post it")]}).interrupts
    edit = {"type": "edit", "edited_action": {"name": "post", "args": {"body": "x"}}}
    with pytest.raises(ResumeRefused):  # edit is not one of the decisions it allows
        runner.resume("g", "t", {pending.id: edit})
    assert POSTED == []
    done = runner.resume("g", "t", {pending.id: {"type": "approve"}})
    assert done.finished and POSTED == ["hello"]


def add_human_in_the_loop(wrapped: BaseTool) -> BaseTool:
    """LangGraph's tutorial wrapper ("Add human intervention to any tool"): the tool asks
    itself, and refuses a response type it does not know."""

    @tool(wrapped.name, description=wrapped.description, args_schema=wrapped.args_schema)
    def call_tool_with_interrupt(config: RunnableConfig, **tool_input: Any) -> Any:
        request = {
            "action_request": {"action": wrapped.name, "args": tool_input},
            "config": {"allow_accept": True, "allow_edit": True, "allow_respond": True},
            "description": "Please review the tool call",
        }
        response = interrupt([request])[0]
        if response["type"] == "accept":
            return wrapped.invoke(tool_input, config)
        if response["type"] == "response":
            return response["args"]
        raise ValueError(f"Unsupported interrupt response type: {response['type']}")

    return call_tool_with_interrupt


def test_an_answer_a_tool_asking_itself_refuses_is_refused():
    runner = _agent([add_human_in_the_loop(post)], [], "hello")
    [pending] = runner.start("g", "t", {"messages": [("user", "post it")]}).interrupts
    with pytest.raises(ResumeRefused, match="Unsupported interrupt response type: ignore"):
        runner.resume("g", "t", {pending.id: [{"type": "ignore", "args": None}]})
    assert POSTED == []
    done = runner.resume("g", "t", {pending.id: [{"type": "accept", "args": None}]})
    assert done.finished and POSTED == ["hello"]


def test_a_tool_asking_itself_whose_wrapped_tool_acted_and_then_raised_refused_nothing():
    """The wrapped tool ran on the approval and posted before it raised: a failure of what
    ran, not a refusal, so the same approval is not handed over again as if nothing ran."""
    runner = _agent([add_human_in_the_loop(post)], [], "no json")
    [pending] = runner.start("g", "t", {"messages": [("user", "post it")]}).interrupts
    with pytest.raises(ValueError, match="Expecting value") as raised:
        runner.resume("g", "t", {pending.id: [{"type": "accept", "args": None}]})
    assert not isinstance(raised.value, ResumeRefused)
    assert POSTED == ["no json"]


def test_a_node_that_ran_a_tool_on_its_answer_and_raised_refused_nothing():
    """No ToolNode asked: a tool the node ran after the answer acted, whatever it raised."""

    def ask_then_post(state: State) -> State:
        body = interrupt("what shall I post?")
        post.invoke({"body": body})
        return {}

    runner = _runner(ask_then_post)
    POSTED.clear()
    [pending] = runner.start("g", "t", {}).interrupts
    with pytest.raises(ValueError, match="Expecting value") as raised:
        runner.resume("g", "t", {pending.id: "no json"})
    assert not isinstance(raised.value, ResumeRefused)
    assert POSTED == ["no json"]


def test_a_node_whose_post_on_its_answer_came_back_unreadable_refused_nothing():
    """The node posted what it was told to, then could not read the reply: the ValueError
    came out of the HTTP client, after the server had the post. A failure, not a refusal."""
    received: list[bytes] = []

    def server(request: httpx.Request) -> httpx.Response:
        received.append(request.content)
        return httpx.Response(502, text="<html>Bad Gateway</html>")

    def ask_then_post(state: State) -> State:
        body = interrupt("what shall I post?")
        with httpx.Client(transport=httpx.MockTransport(server)) as client:
            client.post("https://hooks.example.com/post", content=body).json()
        return {}

    runner = _runner(ask_then_post)
    [pending] = runner.start("g", "t", {}).interrupts
    with pytest.raises(ValueError) as raised:
        runner.resume("g", "t", {pending.id: "hello"})
    assert not isinstance(raised.value, ResumeRefused)
    assert received == [b"hello"]


def test_a_node_that_checks_its_answer_with_json_still_refuses_it():
    """Reading the answer itself (the standard library's json, no server) is no talking out."""

    def ask(state: State) -> State:
        return {"first": json.loads(interrupt("JSON, please"))["first"]}

    runner = _runner(ask)
    [pending] = runner.start("g", "t", {}).interrupts
    with pytest.raises(ResumeRefused):
        runner.resume("g", "t", {pending.id: "not json"})
    assert runner.resume("g", "t", {pending.id: '{"first": "a"}'}).values["first"] == "a"


class _AsksBeforeEachCall(AgentMiddleware):
    """A gate of its own (not LangChain's): it asks in ``wrap_tool_call``, outside the tool,
    then runs the tool on a yes, as the per-call gate does, with a question of its own."""

    def wrap_tool_call(self, request: Any, handler: Any) -> Any:
        answer = interrupt({"kind": "may I?", "tool": request.tool_call["name"]})
        if answer not in ("yes", "no"):
            raise ValueError(f"answer yes or no, not {answer!r}")
        return handler(request) if answer == "yes" else "not run"


def test_a_tool_a_middleware_ran_on_its_answer_that_acted_and_then_raised_refused_nothing():
    """The middleware asked, not the tool: the tool it ran on the yes posted before it raised.
    A failure of what ran, so the yes is not handed over again (the post would go twice)."""
    runner = _agent([post], [_AsksBeforeEachCall()], "no json")
    [pending] = runner.start("g", "t", {"messages": [("user", "post it")]}).interrupts
    with pytest.raises(ValueError, match="Expecting value") as raised:
        runner.resume("g", "t", {pending.id: "yes"})
    assert not isinstance(raised.value, ResumeRefused)
    assert POSTED == ["no json"]


def test_an_answer_a_middleware_refuses_before_the_tool_runs_is_refused():
    runner = _agent([post], [_AsksBeforeEachCall()], "hello")
    [pending] = runner.start("g", "t", {"messages": [("user", "post it")]}).interrupts
    with pytest.raises(ResumeRefused, match="answer yes or no"):
        runner.resume("g", "t", {pending.id: "maybe"})
    assert POSTED == []
    done = runner.resume("g", "t", {pending.id: "yes"})
    assert done.finished and POSTED == ["hello"]
