"""What a decision means to LangGraph, for any registered graph.

The engine (Slack) and ``python -m bot try`` (a terminal) both drive runs through this: start a
run with the request under the graph's input key, turn a reviewer's decision into what its
adapter (or the graph's settings) says -- a resume value, a state update then continue, or a
stop -- and apply the graph's breakpoint settings. Nothing here knows about Slack or the store.

:class:`AgentsPort` is the engine's side of it (:class:`bot.core.ports.Agents`): runs started,
continued and answered through the driver, from the stored request, each invocation labelled
for tracing (:mod:`bot.agents.traces`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bot.agents import adapters, traces
from bot.agents.outputs import inputs_for, report_of
from bot.agents.registry import RegisteredGraph
from bot.agents.runner import ResumeRefused, Runner, RunState
from bot.agents.toolkit import unreachable_model
from bot.agents.traces import Trace
from bot.core.ports import with_fix
from bot.domain.models import Approval, Decision, Run
from bot.domain.review import Pending, Resume, Review, Stop, Update
from bot.domain.signoff import SignOffs

MAX_SKIPPED = 100  # breakpoints skipped in a row before giving up: a graph looping on itself


@dataclass
class Driver:
    runner: Runner
    graphs: Mapping[str, RegisteredGraph] = field(default_factory=dict)
    # Who signs what (the policy file): an approval at a breakpoint answers the node's own pause
    # only where that needs the same sign-off. None: no policy (``python -m bot try``, where one
    # person decides everything).
    signoffs: SignOffs | None = None

    def context(self, graph: str) -> adapters.Context:
        registered = self.graphs.get(graph)
        if registered is None:
            return adapters.Context(graph)
        return adapters.Context(graph, registered.settings, registered.tools)

    # ``trace``: the labels of the invocation (bot.agents.traces); a follow-up invocation made here
    # (a
    # skipped breakpoint, a carried-over answer) gets the same labels under a new id.
    def start(
        self,
        graph: str,
        thread_id: str,
        request: str,
        requester: str,
        channel: str,
        trace: Trace | None = None,
    ) -> RunState:
        registered = self.graphs.get(graph)
        key = registered.input_key if registered else "request"
        declared = registered.state_keys if registered else ()
        inputs = inputs_for(declared, key, request, requester, channel)
        state = self.runner.start(graph, thread_id, inputs, trace)
        return self.past_skipped(graph, thread_id, state, trace)

    def proceed(self, graph: str, thread_id: str, trace: Trace | None = None) -> RunState:
        state = self.runner.proceed(graph, thread_id, trace)
        return self.past_skipped(graph, thread_id, state, trace)

    def report(self, graph: str, state: RunState) -> str:
        registered = self.graphs.get(graph)
        return report_of(state.values, registered.settings.output if registered else None)

    def answer(
        self,
        graph: str,
        thread_id: str,
        pending: Pending,
        review: Review,
        decision: Decision,
        trace: Trace | None = None,
    ) -> RunState | Stop:
        """Send a decision back to LangGraph; a :class:`Stop` when it ends the run here."""
        context = self.context(graph)
        answer = adapters.answer(pending, review, decision, context)
        if isinstance(answer, Stop):
            return answer
        if isinstance(answer, Update):
            if answer.values is not None:
                self.runner.update(graph, thread_id, answer.values, answer.as_node)
            state = self.runner.proceed(graph, thread_id, trace)
        else:
            state = self.runner.resume(graph, thread_id, {pending.id: answer.value}, trace)
        if pending.breakpoint == "before" and not context.settings.ask_twice:
            state = self._carry_over(graph, thread_id, pending, decision, state, trace)
        return self.past_skipped(graph, thread_id, state, trace)

    def _carry_over(
        self,
        graph: str,
        thread_id: str,
        paused: Pending,
        decision: Decision,
        state: RunState,
        trace: Trace | None,
    ) -> RunState:
        """The node a reviewer just let run asks for a decision at once: it is the same
        decision, so answer it rather than ask the same person twice. Only a person's Approve
        (not an expiry's nor a remembered rule's), only one pause at that node, and only when
        what it asks needs the same sign-off as the breakpoint: several pauses (a ``Send``
        fanned out to it, each branch with its own arguments) were never on the breakpoint's
        card, an Edit of the state is not an edit of what the node asks, and an action whose
        policy names other people, or more of them, was not theirs to sign; each of those asks
        on a card of its own."""
        node = paused.node
        asked = [p for p in state.interrupts if p.node == node]
        if decision.type != "approve" or decision.via == "rule" or len(asked) != 1:
            return state
        [pending] = asked
        signed = adapters.governing(paused)  # what the breakpoint's sign-off was read from
        if self.signoffs is not None and not self.signoffs.carried_over(
            graph, node, pending.value, signed
        ):
            return state
        context = self.context(graph)
        answer = adapters.answer(pending, adapters.describe(pending, context), decision, context)
        if not isinstance(answer, Resume):
            return state
        try:
            return self.runner.resume(
                graph, thread_id, {pending.id: answer.value}, trace and trace.again()
            )
        except ResumeRefused:
            # The node refused the approval carried over to it (not the request's own answer,
            # which it ran with): it still waits, and asks on a card of its own.
            return self.runner.state(graph, thread_id)

    def past_skipped(
        self, graph: str, thread_id: str, state: RunState, trace: Trace | None = None
    ) -> RunState:
        """With ``breakpoints: skip`` the graph's static breakpoints ask nobody."""
        settings = self.context(graph).settings
        for _ in range(MAX_SKIPPED):
            if state.breakpoint is None or settings.breakpoints != "skip":
                break
            state = self.runner.proceed(graph, thread_id, trace and trace.again())
        return state


# (thread id, trace id): with tracing on, where a run's latest trace is kept for its card's link
KeepTrace = Callable[[str, str], None]


@dataclass
class AgentsPort:
    driver: Driver
    keep_trace: KeepTrace = lambda thread_id, trace_id: None
    links: traces.TraceLinks = field(default_factory=lambda: traces.TraceLinks(None))
    # OPENAI_BASE_URL as set: named, with the variable, when the model's server cannot be reached
    model_url: str | None = None

    def start(self, run: Run) -> RunState:
        trace = self._traced(run, traces.for_start(run))
        with self._fixes():
            return self.driver.start(
                run.graph, run.thread_id, run.request, run.requester, run.channel, trace
            )

    def proceed(self, run: Run) -> RunState:
        trace = self._traced(run, traces.for_continue(run))
        with self._fixes():
            return self.driver.proceed(run.graph, run.thread_id, trace)

    def answer(self, run: Run, approval: Approval, decision: Decision) -> RunState | Stop:
        pending = adapters.pending_of(approval.interrupt_id, approval.payload)
        review = approval.review or adapters.describe(pending, self.driver.context(run.graph))
        trace = self._traced(run, traces.for_resume(run, approval.id, decision))
        with self._fixes():
            return self.driver.answer(run.graph, run.thread_id, pending, review, decision, trace)

    def report(self, graph: str, state: RunState) -> str:
        return self.driver.report(graph, state)

    def describe(self, graph: str, pending: Pending) -> Review:
        return adapters.describe(pending, self.driver.context(graph))

    def payload_of(self, pending: Pending) -> dict[str, Any]:
        return adapters.payload_of(pending)

    def governing(self, pending: Pending) -> Any:
        return adapters.governing(pending)

    def permits(self, review: Review | None, decision: Decision) -> bool:
        return adapters.permits(review, decision)

    @contextmanager
    def _fixes(self) -> Iterator[None]:
        """An error the step raised that names no fix of its own (the model's server could not
        be reached: "Connection error.") carries one for the run's failure text, on itself and
        on what it wraps (a :class:`~bot.core.ports.MayHaveActed`'s cause); raised as it came."""
        try:
            yield
        except Exception as exc:
            for error in (exc, exc.__cause__):
                fix = unreachable_model(error, self.model_url) if error is not None else ""
                if error is not None and fix:
                    with_fix(error, fix)
            raise

    def _traced(self, run: Run, trace: traces.Trace) -> traces.Trace:
        """Label an invocation; with tracing on, remember its trace for the card's link."""
        if self.links.enabled:
            self.keep_trace(run.thread_id, trace.id)
        return trace
