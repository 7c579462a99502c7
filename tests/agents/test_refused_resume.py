"""A node that takes its answer and raises because of it refuses that answer
(:class:`~bot.core.ports.ResumeRefused`): the thread still waits on the same interrupt, and the
refused answer is taken back out of the checkpoint, so the next answer is the one the node gets
(LangGraph would hand it the stored one again). Anything else is raised as it came."""

from __future__ import annotations

from typing import Any, TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, field_validator

from bot.agents.runner import InProcessRunner, ResumeRefused


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
