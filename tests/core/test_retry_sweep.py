"""A Retry cut off after its transaction (the run running again, its ``retried`` row, the click
closed) and before the run was moved on, finished by the recovery sweep: the run is continued,
once, whichever runner it is on. On a LangGraph Server a failed run is not continued by reading
its thread (the thread stays in "error" until a new run is made on it): the sweep must know
that a Retry, not a crash mid-step, left the run "running", or it reports the old failure
again to the person who was told "Retrying". Both databases."""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import pytest

from bot.core.outcomes import RetryKind
from bot.core.ports import RunFailed, RunState
from bot.domain.models import Run
from bot.runtime.worker import InlineWorker
from tests.support.faults import Killed, killed_after
from tests.support.units import EngineParts, FakeGraph, engine_parts


@dataclass
class ServerGraph(FakeGraph):
    """A graph on a LangGraph Server: a run that failed there leaves its thread failed (the
    server keeps the error on it) until a new run is made on the thread (``proceed``)."""

    effects_here: bool = False
    broken: bool = True

    def start(self, run: Run):
        if self.broken:
            self.states[run.thread_id] = self.failed("ValueError: model said no")
            return self.states[run.thread_id]
        return super().start(run)

    def failed(self, error: str) -> RunState:
        return RunState(started=True, finished=False, interrupts=(), failed=error)


def retry_dies_after_its_commit(parts: EngineParts, run: Run, monkeypatch) -> None:
    """Retry pressed; the process dies as soon as its transaction committed."""
    killed_after(monkeypatch, parts.store, "retry_run")
    with pytest.raises(Killed):
        parts.control.retry(run.thread_id, "U0ASKER")
    monkeypatch.undo()
    assert parts.store.get_run(run.thread_id).status == "running"


def sweeps(parts: EngineParts, times: int = 3) -> None:
    for _ in range(times):
        parts.clock.advance(parts.engine.stale_after + 1)
        parts.engine.recover()


@pytest.mark.parametrize("runner", ["in-process", "server"])
def test_a_run_retried_before_a_crash_is_continued_once_by_the_sweep(
    db, clock, monkeypatch, runner
):
    graph = ServerGraph() if runner == "server" else Failing()
    parts = engine_parts(db, clock, graph=graph)
    try:
        run = parts.start(requester="U0ASKER")
        assert parts.store.get_run(run.thread_id).status == "failed"
        assert len(parts.publisher.named("run_failed")) == 1
        graph.broken = False  # fixed; the person presses Retry
        retry_dies_after_its_commit(parts, run, monkeypatch)

        sweeps(parts)
        assert parts.store.get_run(run.thread_id).status == "waiting"
        assert graph.proceeded == [run.thread_id], "continued, once"
        assert len(parts.publisher.named("run_failed")) == 1, "not failed again"
        [approval] = parts.pending(run)
        assert approval.ts is not None
    finally:
        parts.close()


@pytest.mark.parametrize("runner", ["in-process", "server"])
def test_a_retry_whose_own_move_comes_after_two_sweeps_continues_the_run_once(db, clock, runner):
    """The process did not die, only its worker was slow: a sweep moved the run on first, and
    another process's sweep found it too; on the server, the fresh run failed again before the
    Retry's own move came. That is a new failure to report, not the Retry to carry out again:
    the run is continued once."""
    graph = ServerGraph() if runner == "server" else Failing()
    held: list = []
    parts = engine_parts(db, clock, graph=graph, worker=Held(held))
    other = engine_parts(db, clock, graph=graph, worker=Held(held))  # another process
    try:
        run = parts.start(requester="U0ASKER")
        run_all(held)
        assert parts.store.get_run(run.thread_id).status == "failed"
        graph.broken = False
        assert parts.control.retry(run.thread_id, "U0ASKER").kind is RetryKind.RETRYING
        slow = run_all(held, later=True)  # the Retry's own move of the run, not yet done
        for sweeping in (parts, other):
            clock.advance(parts.engine.stale_after + 1)
            sweeping.engine.recover()
            run_all(held)
        assert graph.proceeded == [run.thread_id]
        if runner == "server":
            graph.broken = True
            graph.states[run.thread_id] = graph.failed("ValueError: again")
        run_all(slow)
        sweeps(other)
        assert graph.proceeded == [run.thread_id], "continued, once"
        if runner == "server":
            assert parts.store.get_run(run.thread_id).status == "failed"
            assert (
                len(parts.publisher.named("run_failed")) + len(other.publisher.named("run_failed"))
                == 2
            )
        else:
            assert parts.store.get_run(run.thread_id).status == "waiting"
    finally:
        parts.close()
        other.close()


def test_a_run_made_again_on_the_server_before_a_crash_is_not_made_again(db, clock, monkeypatch):
    """The sweep (or the Retry's own move) made the new run on the server and the process died
    before it recorded so: the next move finds the thread no longer failed, and only records
    it; a later failure of that run is reported, not run again."""
    graph = ServerGraph()
    parts = engine_parts(db, clock, graph=graph)
    try:
        run = parts.start(requester="U0ASKER")
        graph.broken = False
        retry_dies_after_its_commit(parts, run, monkeypatch)
        killed_after(monkeypatch, graph, "proceed")  # the server's new run made, then dead
        clock.advance(parts.engine.stale_after + 1)
        with pytest.raises(Killed):
            parts.engine.recover()
        monkeypatch.undo()
        assert graph.proceeded == [run.thread_id]
        graph.states[run.thread_id] = RunState(True, False, (), running=True)  # under way

        sweeps(parts, 1)
        assert not parts.store.get_run(run.thread_id).rerun
        graph.states[run.thread_id] = graph.failed("ValueError: again")  # and it failed
        sweeps(parts)
        assert graph.proceeded == [run.thread_id], "made again once"
        assert parts.store.get_run(run.thread_id).status == "failed"
        assert len(parts.publisher.named("run_failed")) == 2
    finally:
        parts.close()


def run_all(held: list, later: bool = False) -> list:
    """Run the work handed over so far (and what it hands over), or take it to run later."""
    taken = list(held)
    held.clear()
    if later:
        return taken
    while taken:
        for call in taken:
            call()
        taken = list(held)
        held.clear()
    return []


class Failing(FakeGraph):
    """In process: a run whose first step raised is a thread cut short, continued from its
    checkpoint by any move of the run."""

    broken = True

    def start(self, run: Run):
        if self.broken:
            # The checkpoint before the step that raised: work left, nothing asked.
            self.states[run.thread_id] = RunState(started=True, finished=False, interrupts=())
            raise ValueError("model said no")
        return super().start(run)


class Held(InlineWorker):
    """Work handed over is kept, to be run when the test says."""

    def __init__(self, held: list) -> None:
        super().__init__()
        self.held = held

    def submit(self, fn: Any, *args: Any) -> Future[Any]:
        self.held.append(lambda: fn(*args))
        done: Future[Any] = Future()
        done.set_result(None)
        return done


class RefusedOnce(ServerGraph):
    """The Retry's new run on the server refused (a 4xx: RunFailed, not the server away), so
    the Retry's move fails the run; the thread still shows its old failure."""

    def proceed(self, run: Run) -> RunState:
        self.proceeded.append(run.thread_id)
        raise RunFailed("the LangGraph server refused the call (422): invalid input")


def test_a_retry_whose_move_failed_the_run_leaves_no_rerun_behind(db, clock):
    """A Retry's move that failed the run (its runner raised) leaves no Retry behind: a later
    move of the failed run (a webhook of the thread's earlier run delivered again, or replayed:
    its URL is signed per thread) reports the failure; it does not make a new run nobody asked
    for."""
    graph = RefusedOnce()
    parts = engine_parts(db, clock, graph=graph)
    try:
        run = parts.start(requester="U0ASKER")
        assert parts.control.retry(run.thread_id, "U0ASKER").kind is RetryKind.RETRYING
        assert graph.proceeded == [run.thread_id]
        assert parts.store.get_run(run.thread_id).status == "failed"

        parts.engine.settled(run.thread_id)  # a webhook of the thread's run, delivered again
        assert graph.proceeded == [run.thread_id], "not run again without a Retry"
        assert parts.store.get_run(run.thread_id).status == "failed"
        assert not parts.store.get_run(run.thread_id).rerun
    finally:
        parts.close()
