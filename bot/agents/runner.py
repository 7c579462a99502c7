"""The seam between the bot and LangGraph: start a run, resume it, read what it waits for.

Graphs run in-process here (:class:`InProcessRunner`: each call returns once the thread waits or
ends); :class:`bot.agents.langgraph_server.ServerRunner` does the same operations on a LangGraph
Server,
where a call returns as soon as the server has taken the run (``RunState.running``) and the
engine hears later, through :meth:`Runner.notify`'s callback, that the thread settled.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

from langgraph.errors import is_invalid_resume
from langgraph.types import Command
from langgraph.types import _interrupt_id as interrupt_id  # how LangGraph names an interrupt

from bot.agents import acted
from bot.agents.traces import Trace
from bot.core.ports import (
    SAME_AGAIN,
    MayHaveActed,
    ResumeRefused,
    RunFailed,
    Runner,
    RunnerBusy,
    RunnerUnavailable,
    RunState,
    Settled,
)
from bot.domain.review import Pending

# The seam itself (RunState, Runner, its errors) is the core's (bot.core.ports); named here too
# for the runners and their callers.
__all__ = [
    "InProcessRunner",
    "ResumeRefused",
    "RunFailed",
    "Runner",
    "RunnerBusy",
    "RunnerUnavailable",
    "RunState",
    "Settled",
]

logger = logging.getLogger(__name__)

# Where LangGraph records what the last breakpoint saw (private in langgraph 1.x, so not imported).
INTERRUPT = "__interrupt__"
# Among a checkpoint's pending writes, the answers a task's interrupts were given (overwritten in
# place by every checkpointer, by name; private too).
RESUME = "__resume__"
# What a node raises because of the value it was handed: the same value, the same error.
REFUSALS = SAME_AGAIN


class InProcessRunner:
    effects_here = True  # the graphs' effects go through this process's ledger

    def __init__(self, graphs: Mapping[str, Any]) -> None:
        """``graphs``: compiled graphs by name, each on the bot's checkpointer."""
        self.graphs = dict(graphs)

    def notify(self, settled: Settled) -> None:
        """Nothing to hear about: every call here returns once the thread has settled."""

    def stop(self, graph: str, thread_id: str) -> None:
        """Nothing runs here between calls; the engine checks for a cancelled run itself."""

    def close(self) -> None:
        pass

    def _invoke(self, graph: str, thread_id: str, value: Any, trace: Trace | None) -> RunState:
        # durability="sync": every step is on disk before the next starts, so a crash loses
        # nothing a person already decided.
        config = {**(trace.config() if trace else {}), **_config(thread_id)}
        # Streamed for its checkpoints (each as get_state would read it back): a run that ended
        # in this call is known from its last one, without reading the thread again.
        steps = self.graphs[graph].stream(
            value, config, stream_mode="checkpoints", durability="sync"
        )
        last = next(iter(deque(steps, maxlen=1)), None)
        if last is not None and not last["next"] and not last["tasks"]:
            values = dict(last["values"] or {})
            return RunState(started=True, finished=True, interrupts=(), values=values)
        return self.state(graph, thread_id)

    def start(
        self, graph: str, thread_id: str, inputs: dict[str, Any], trace: Trace | None = None
    ) -> RunState:
        return self._invoke(graph, thread_id, inputs, trace)

    def proceed(self, graph: str, thread_id: str, trace: Trace | None = None) -> RunState:
        return self._invoke(graph, thread_id, None, trace)

    def resume(
        self, graph: str, thread_id: str, answers: dict[str, Any], trace: Trace | None = None
    ) -> RunState:
        """Raises :class:`ResumeRefused` when the node that asked took its answer and raised
        one of :data:`REFUSALS` (see :meth:`_refused`); any other error as it came."""
        try:
            return self._invoke(graph, thread_id, Command(resume=answers), trace)
        except REFUSALS as exc:
            if isinstance(exc, OSError) or not self._refused(graph, thread_id, answers, exc):
                raise
            raise ResumeRefused(str(exc).strip() or type(exc).__name__, tuple(answers)) from exc
        except Exception as exc:
            if self._acted(graph, thread_id, answers, exc):
                raise MayHaveActed(str(exc)) from exc
            raise

    def _acted(
        self, graph: str, thread_id: str, answered: dict[str, Any], error: BaseException
    ) -> bool:
        """After a resume that raised ``error``: whether a step may have acted on one of the
        answers before it raised (:func:`bot.agents.acted.may_have_run`), as the
        checkpoint has the pauses they answered. False when that cannot be read."""
        try:
            snapshot = self.graphs[graph].get_state(_config(thread_id))
        except Exception:
            logger.exception("thread %s: could not read back a resume that raised", thread_id)
            return False
        asked = [i.value for task in snapshot.tasks for i in task.interrupts if i.id in answered]
        return any(acted.may_have_run(value, error) for value in asked)

    def _refused(
        self, graph: str, thread_id: str, answered: dict[str, Any], error: BaseException
    ) -> bool:
        """After a resume that raised ``error``: whether each node sent an answer raised on it,
        its thread still waiting on the same interrupt (LangGraph names an interrupt after its
        checkpoint's task, so the checkpoint did not move), as the checkpointer has it, and
        nothing the answer let run raised it (a tool run on it:
        :func:`bot.agents.acted.may_have_run`; a library talking to a server:
        :func:`bot.agents.acted.talked_out`). If so, the answers are taken back
        out of the checkpoint: LangGraph stores an answer with its task as soon as the node
        takes it, and hands the stored one back on every later resume of that interrupt,
        whatever value it sends, so the refused answer could never be replaced. False (nothing
        touched) when that cannot be read or is not so."""
        if acted.talked_out(error):
            return False  # it came while talking to a server, which may have acted
        # An answer that does not fit the interrupt's response_schema is refused by LangGraph
        # itself, before the node takes it: nothing of it is stored.
        taken = not is_invalid_resume(error)
        compiled = self.graphs[graph]
        try:
            snapshot = compiled.get_state(_config(thread_id))
            saved = compiled.checkpointer.get_tuple(snapshot.config)
            if saved is None:
                return False
            stored = {t: v for t, channel, v in saved.pending_writes or () if channel == RESUME}
            back: list[tuple[str, list[Any]]] = []  # task -> its answers before this one
            for answered_id in answered:
                task = next((t for t in snapshot.tasks if _asks(t, answered_id)), None)
                if task is None or task.error is None:
                    return False
                if any(acted.may_have_run(i.value, error) for i in task.interrupts):
                    return False  # a failure of what ran, not a refusal of the answer
                if not taken:
                    continue
                answers = list(stored.get(task.id) or ())
                # Its last stored answer is the one for this interrupt: the node took it.
                if not answers or interrupt_id(_namespace(task), len(answers) - 1) != answered_id:
                    return False
                back.append((task.id, answers[:-1]))
            for task_id, earlier in back:
                compiled.checkpointer.put_writes(saved.config, [(RESUME, earlier)], task_id)
            return True
        except Exception:
            logger.exception("thread %s: could not read back a resume that raised", thread_id)
            return False

    def update(
        self, graph: str, thread_id: str, values: dict[str, Any] | None, as_node: str | None
    ) -> None:
        self.graphs[graph].update_state(_config(thread_id), values, as_node=as_node)

    def state(self, graph: str, thread_id: str) -> RunState:
        compiled = self.graphs[graph]
        snapshot = compiled.get_state(_config(thread_id))
        interrupts = tuple(
            Pending(i.id, i.value, task.name, _schema(i))
            for task in snapshot.tasks
            for i in task.interrupts
        )
        started = snapshot.created_at is not None
        values = dict(snapshot.values or {})
        paused = None
        if started and snapshot.next and not interrupts:
            paused = _breakpoint(compiled, snapshot, values)
        # Finished only when nothing is left at all: a step killed after its writes were saved
        # but before the next checkpoint shows no `next`, yet still lists its task.
        return RunState(
            started=started,
            finished=started and not snapshot.next and not snapshot.tasks,
            interrupts=interrupts,
            values=values,
            breakpoint=paused,
        )


def _asks(task: Any, interrupt_id: str) -> bool:
    return any(i.id == interrupt_id for i in task.interrupts)


def _namespace(task: Any) -> str:
    """A task's checkpoint namespace, from which LangGraph names its interrupts (a node of the
    graph itself; a subgraph's interrupt is named in the subgraph's, and never matches)."""
    return f"{task.name}:{task.id}"


def _schema(interrupt: Any) -> dict[str, Any] | None:
    schema = getattr(interrupt, "response_schema", None)
    return schema if isinstance(schema, dict) else None


def _breakpoint(compiled: Any, snapshot: Any, values: dict[str, Any]) -> Pending | None:
    """The static breakpoint the run stopped at, if that is why it stopped.

    A thread also stops with work left when a process dies mid-step; LangGraph's own rule tells
    the two apart: a breakpoint fires only in a step the loop saved (not an ``update_state``),
    with channels written since the last breakpoint, around a node named for it.
    """
    if (snapshot.metadata or {}).get("source") != "loop":
        return None
    saved = compiled.checkpointer.get_tuple(snapshot.config)
    if saved is None or not _updated_since_last_pause(saved.checkpoint):
        return None
    node = _match(snapshot.next, compiled.interrupt_before_nodes)
    where = "before"
    if node is None and compiled.interrupt_after_nodes and snapshot.parent_config:
        ran = compiled.get_state(snapshot.parent_config).next
        node, where = _match(ran, compiled.interrupt_after_nodes), "after"
    if node is None:
        return None
    checkpoint_id = snapshot.config["configurable"]["checkpoint_id"]
    return Pending(f"bp:{checkpoint_id}", None, node, None, where, values)  # type: ignore[arg-type]


def _match(nodes: tuple[str, ...], named: Any) -> str | None:
    for node in nodes:
        if named == "*" or node in (named or ()):
            return node
    return None


def _updated_since_last_pause(checkpoint: Mapping[str, Any]) -> bool:
    versions = checkpoint.get("channel_versions") or {}
    seen = (checkpoint.get("versions_seen") or {}).get(INTERRUPT, {})
    null = type(next(iter(versions.values()), ""))()
    return any(version > seen.get(channel, null) for channel, version in versions.items())


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}
