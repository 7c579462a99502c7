"""The agents package's side of the engine's :class:`bot.core.ports.Agents`: runs started,
continued and answered through the :class:`~bot.agents.driver.Driver` (the interrupt adapters,
the graph's settings), each invocation labelled for tracing (:mod:`bot.agents.traces`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.agents import adapters, traces
from bot.agents.driver import Driver
from bot.core.ports import RunState
from bot.domain.models import Approval, Decision, Run
from bot.domain.review import Pending, Review, Stop

# (thread id, trace id): with tracing on, where a run's latest trace is kept for its card's link
KeepTrace = Callable[[str, str], None]


@dataclass
class AgentsPort:
    driver: Driver
    keep_trace: KeepTrace = lambda thread_id, trace_id: None
    links: traces.TraceLinks = field(default_factory=lambda: traces.TraceLinks(None))

    def start(self, run: Run) -> RunState:
        trace = self._traced(run, traces.for_start(run))
        return self.driver.start(
            run.graph, run.thread_id, run.request, run.requester, run.channel, trace
        )

    def proceed(self, run: Run) -> RunState:
        trace = self._traced(run, traces.for_continue(run))
        return self.driver.proceed(run.graph, run.thread_id, trace)

    def answer(self, run: Run, approval: Approval, decision: Decision) -> RunState | Stop:
        pending = adapters.pending_of(approval.interrupt_id, approval.payload)
        review = approval.review or adapters.describe(pending, self.driver.context(run.graph))
        trace = self._traced(run, traces.for_resume(run, approval.id, decision))
        return self.driver.answer(run.graph, run.thread_id, pending, review, decision, trace)

    def report(self, graph: str, state: RunState) -> str:
        return self.driver.report(graph, state)

    def describe(self, graph: str, pending: Pending) -> Review:
        return adapters.describe(pending, self.driver.context(graph))

    def payload_of(self, pending: Pending) -> dict[str, Any]:
        return adapters.payload_of(pending)

    def permits(self, review: Review | None, decision: Decision) -> bool:
        return adapters.permits(review, decision)

    def _traced(self, run: Run, trace: traces.Trace) -> traces.Trace:
        """Label an invocation; with tracing on, remember its trace for the card's link."""
        if self.links.enabled:
            self.keep_trace(run.thread_id, trace.id)
        return trace
