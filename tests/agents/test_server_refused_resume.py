"""On a real LangGraph Server (``langgraph dev``): a node that takes its answer and raises
because of it refuses that answer, as in process (test_refused_resume.py). The server stores the
refused answer with the node's task and hands it back on every later resume, so the runner forks
the checkpoint that asked (its node asks again) and keeps naming the pause by the id the bot
knows; the same answer sent again is :class:`ResumeRefused` without reaching the graph, and the
next one reaches it, once."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph_sdk import get_sync_client

from bot.agents.langgraph_server import ServerRunner
from bot.agents.runner import ResumeRefused, RunnerBusy, RunState
from tests.support.lgserver import serve_graph

pytestmark = pytest.mark.xdist_group("langgraph_server")

PAIRS = """
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

SEEN = Path({seen!r})


class S(TypedDict, total=False):
    seats: int


def ask(state: S) -> dict:
    seats = interrupt("how many seats?")
    with SEEN.open("a") as seen:
        seen.write(f"{{seats}}\\n")
    if seats % 2:
        raise ValueError(f"seats come in pairs, not {{seats}}")
    return {{"seats": seats}}


def build():
    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g.compile()
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[ServerRunner, Path]]:
    project = tmp_path_factory.mktemp("pairs")
    seen = project / "seen"
    server = serve_graph(project, "pairs", PAIRS.format(seen=str(seen)))
    runner = ServerRunner(get_sync_client(url=server.url, api_key=None), server.url)
    try:
        yield runner, seen
    finally:
        runner.close()
        server.stop()


def settled(runner: ServerRunner, thread: str, timeout: float = 60) -> RunState:
    deadline = time.monotonic() + timeout
    while (state := runner.state("pairs", thread)).running:
        assert time.monotonic() < deadline, "the run did not settle"
        time.sleep(0.1)
    return state


def seen(path: Path) -> list[int]:
    return [int(n) for n in path.read_text().split()] if path.exists() else []


def refused_one(runner: ServerRunner, thread: str, seats: int) -> str:
    """A run on ``thread`` whose node refused ``seats``: the id of the pause it still waits on."""
    runner.start("pairs", thread, {})
    [pending] = settled(runner, thread).interrupts
    runner.resume("pairs", thread, {pending.id: seats})
    after = settled(runner, thread)
    assert after.failed is None and after.waiting_on(pending.id)
    return pending.id


def test_the_refused_answer_sent_again_is_refused_and_the_next_reaches_the_graph_once(served):
    runner, path = served
    before = seen(path)
    asked = refused_one(runner, "t1", 3)
    # The engine hands the same decision back (it was marked applied when the server took it).
    with pytest.raises(ResumeRefused) as raised:
        runner.resume("pairs", "t1", {asked: 3})
    assert str(raised.value) == "seats come in pairs, not 3"
    assert raised.value.interrupts == (asked,)
    again = settled(runner, "t1")
    assert again.failed is None and again.waiting_on(asked)  # the same pause, by its id
    runner.resume("pairs", "t1", {asked: 4})
    done = settled(runner, "t1")
    assert done.finished and done.values["seats"] == 4
    assert seen(path)[len(before) :] == [3, 4]


def test_a_new_answer_after_a_refusal_is_sent_once_the_node_asks_again(served):
    runner, path = served
    before = seen(path)
    asked = refused_one(runner, "t2", 5)
    with pytest.raises(RunnerBusy):  # asked again first; the answer follows once it waits
        runner.resume("pairs", "t2", {asked: 7})
    assert settled(runner, "t2").waiting_on(asked)
    runner.resume("pairs", "t2", {asked: 7})  # refused too: the node has it, not the 5
    assert settled(runner, "t2").waiting_on(asked)
    with pytest.raises(ResumeRefused, match="not 7"):
        runner.resume("pairs", "t2", {asked: 7})
    settled(runner, "t2")
    runner.resume("pairs", "t2", {asked: 8})
    done = settled(runner, "t2")
    assert done.finished and done.values["seats"] == 8
    assert seen(path)[len(before) :] == [5, 7, 8]


ROUNDS = """
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

SKIP = Path({skip!r})


class S(TypedDict, total=False):
    round: int
    seats: int


def ask(state: S) -> dict:
    at = state.get("round", 0)
    if at == 0 and SKIP.exists():  # asked again, this node decides it need not ask this round
        return {{"round": 1}}
    seats = interrupt(f"seats for round {{at}}?")
    if seats % 2:
        raise ValueError(f"seats come in pairs, not {{seats}}")
    return {{"round": at + 1, "seats": seats}}


def build():
    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_conditional_edges("ask", lambda s: "ask" if s.get("round", 0) < 2 else END)
    return g.compile()
"""


def test_a_later_question_of_the_run_that_asked_again_is_a_new_pause_not_the_refused_one(
    tmp_path,
):
    """The run from the checkpoint that asked need not stop where it stopped before: a node
    that now asks nothing there, and asks again a step later, asks a new question, which the
    bot must not take for the refused one (an answer to that one would go to this)."""
    skip = tmp_path / "skip"
    server = serve_graph(tmp_path, "rounds", ROUNDS.format(skip=str(skip)))
    runner = ServerRunner(get_sync_client(url=server.url, api_key=None), server.url)
    try:
        runner.start("rounds", "r1", {})
        [first] = settled_as(runner, "rounds", "r1").interrupts
        assert first.value == "seats for round 0?"
        runner.resume("rounds", "r1", {first.id: 3})  # refused
        assert settled_as(runner, "rounds", "r1").waiting_on(first.id)
        skip.touch()
        with pytest.raises(RunnerBusy):  # asked again first
            runner.resume("rounds", "r1", {first.id: 4})
        [later] = settled_as(runner, "rounds", "r1").interrupts
        assert later.value == "seats for round 1?"
        assert later.id != first.id  # a new request: nobody has answered this one
    finally:
        runner.close()
        server.stop()


def settled_as(runner: ServerRunner, graph: str, thread: str, timeout: float = 60) -> RunState:
    deadline = time.monotonic() + timeout
    while (state := runner.state(graph, thread)).running:
        assert time.monotonic() < deadline, "the run did not settle"
        time.sleep(0.1)
    return state
