"""On a real LangGraph Server (``langgraph dev``): a Retry of a run that failed there, the
process dead right after the Retry's transaction (the run "running" again, the click closed),
before the run was run again. The server keeps the thread in "error" until a new run is made on
it, so reading the thread tells the recovery sweep nothing of the Retry: the run records it
(``Run.rerun``), and the sweep runs it again, once, instead of reporting the retried failure
again to the person told "Retrying". Both databases."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from langgraph_sdk import get_sync_client

from bot.agents.langgraph_server import ServerRunner
from bot.core.ports import RunState
from bot.domain.models import Run
from tests.support.faults import Killed, killed_after
from tests.support.lgserver import serve_graph
from tests.support.units import FakeGraph, engine_parts

pytestmark = pytest.mark.xdist_group("langgraph_server")

FLAKY = """
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

FIXED = Path({fixed!r})


class S(TypedDict, total=False):
    text: str


def draft(state: S) -> dict:
    if not FIXED.exists():
        raise ValueError("model said no")
    return {{"text": "drafted"}}


def review(state: S) -> dict:
    interrupt({{"text": state["text"]}})
    return {{}}


def build():
    g = StateGraph(S)
    g.add_node("draft", draft)
    g.add_node("review", review)
    g.add_edge(START, "draft")
    g.add_edge("draft", "review")
    g.add_edge("review", END)
    return g.compile()
"""


@dataclass
class OnServer(FakeGraph):
    """The engine's runner and agents: runs on the server (the real :class:`ServerRunner`),
    cards described as the fake graph's."""

    runner: Any = None
    effects_here: bool = False
    proceeds: list[str] = field(default_factory=list)

    def notify(self, settled: Any) -> None:
        self.runner.notify(settled)

    def state(self, graph: str, thread_id: str) -> RunState:
        state: RunState = self.runner.state("flaky", thread_id)
        return state

    def start(self, run: Run) -> RunState:
        state: RunState = self.runner.start("flaky", run.thread_id, {})
        return state

    def proceed(self, run: Run) -> RunState:
        self.proceeds.append(run.thread_id)
        state: RunState = self.runner.proceed("flaky", run.thread_id)
        return state


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[ServerRunner, Path]]:
    project = tmp_path_factory.mktemp("flaky")
    fixed = project / "fixed"
    server = serve_graph(project, "flaky", FLAKY.format(fixed=str(fixed)))
    runner = ServerRunner(get_sync_client(url=server.url, api_key=None), server.url, poll_every=0.1)
    try:
        yield runner, fixed
    finally:
        runner.close()
        server.stop()


def until(ready: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_retry_cut_off_by_a_crash_is_run_again_on_the_server_by_the_sweep(
    served, db, clock, monkeypatch
):
    runner, fixed = served
    fixed.unlink(missing_ok=True)
    graph = OnServer(runner=runner)
    parts = engine_parts(db, clock, graph=graph)
    try:
        run = parts.start(requester="U0ASKER")
        status = lambda: parts.store.get_run(run.thread_id).status  # noqa: E731
        until(lambda: status() == "failed", "the run failed on the server")
        assert len(parts.publisher.named("run_failed")) == 1
        fixed.touch()  # the person fixed it, and presses Retry: the process dies at its commit
        killed_after(monkeypatch, parts.store, "retry_run")
        with pytest.raises(Killed):
            parts.control.retry(run.thread_id, "U0ASKER")
        monkeypatch.undo()
        assert status() == "running"

        clock.advance(parts.engine.stale_after + 1)
        parts.engine.recover()
        until(lambda: status() != "running", "the swept run settled")
        clock.advance(parts.engine.stale_after + 1)
        parts.engine.recover()  # a later sweep finds nothing more to do

        assert status() == "waiting"
        assert graph.proceeds == [run.thread_id], "run again on the server, once"
        assert len(parts.publisher.named("run_failed")) == 1, "the retried failure not told again"
        [approval] = parts.pending(run)
        assert approval.ts is not None
    finally:
        parts.close()
