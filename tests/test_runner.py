"""The runner reads LangGraph's state the way the engine needs it, crash leftovers included."""

from __future__ import annotations

from typing import TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from bot.agents.runner import InProcessRunner


class State(TypedDict, total=False):
    draft: str
    report: str


class Killed(BaseException):
    """Stands for kill -9: nothing after it runs, no except clause sees it."""


def graph(saver: InMemorySaver):
    def review(state: State) -> State:
        return {"draft": interrupt("ok?")}

    def finalize(state: State) -> State:
        return {"report": f"posted {state['draft']}"}

    g = StateGraph(State)
    g.add_node("review", review)
    g.add_node("finalize", finalize)
    g.add_edge(START, "review")
    g.add_edge("review", "finalize")
    g.add_edge("finalize", END)
    return g.compile(checkpointer=saver)


def test_a_step_killed_between_its_writes_and_the_next_checkpoint_is_not_finished(monkeypatch):
    saver = InMemorySaver()
    runner = InProcessRunner({"g": graph(saver)})
    state = runner.start("g", "t1", {})
    [pending] = state.interrupts

    def die(*args, **kwargs):
        raise Killed()

    monkeypatch.setattr(saver, "put", die)  # the node's writes are saved, the step is not
    with pytest.raises(Killed):
        runner.resume("g", "t1", {pending.id: "yes"})
    monkeypatch.undo()

    half = runner.state("g", "t1")
    assert not half.finished and not half.pending and half.stuck
    assert "report" not in half.values
    done = runner.proceed("g", "t1")  # what the recovery sweep does with a stuck run
    assert done.finished and done.values["report"] == "posted yes"
