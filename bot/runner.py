"""The seam between the bot and LangGraph: start a run, resume it, read what it waits for.

Graphs run in-process here; a LangGraph Server runner (langgraph-sdk) can stand in its place
with the same three operations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from langgraph.graph import StateGraph
from langgraph.types import Command


@dataclass(frozen=True)
class PendingInterrupt:
    id: str
    value: Any


@dataclass(frozen=True)
class RunState:
    started: bool
    finished: bool
    interrupts: tuple[PendingInterrupt, ...]
    values: dict[str, Any] = field(default_factory=dict)

    def waiting_on(self, interrupt_id: str) -> bool:
        return any(i.id == interrupt_id for i in self.interrupts)


class Runner(Protocol):
    def start(self, graph: str, thread_id: str, inputs: dict[str, Any]) -> RunState: ...

    def proceed(self, graph: str, thread_id: str) -> RunState: ...

    def resume(self, graph: str, thread_id: str, answers: dict[str, Any]) -> RunState: ...

    def state(self, graph: str, thread_id: str) -> RunState: ...


class InProcessRunner:
    def __init__(self, builders: Mapping[str, StateGraph], checkpointer: Any) -> None:
        self.graphs = {name: b.compile(checkpointer=checkpointer) for name, b in builders.items()}

    def _invoke(self, graph: str, thread_id: str, value: Any) -> RunState:
        config = _config(thread_id)
        # durability="sync": every step is on disk before the next starts, so a crash loses
        # nothing a person already decided.
        self.graphs[graph].invoke(value, config, durability="sync")
        return self.state(graph, thread_id)

    def start(self, graph: str, thread_id: str, inputs: dict[str, Any]) -> RunState:
        return self._invoke(graph, thread_id, inputs)

    def proceed(self, graph: str, thread_id: str) -> RunState:
        return self._invoke(graph, thread_id, None)

    def resume(self, graph: str, thread_id: str, answers: dict[str, Any]) -> RunState:
        return self._invoke(graph, thread_id, Command(resume=answers))

    def state(self, graph: str, thread_id: str) -> RunState:
        snapshot = self.graphs[graph].get_state(_config(thread_id))
        interrupts = tuple(
            PendingInterrupt(i.id, i.value) for task in snapshot.tasks for i in task.interrupts
        )
        started = snapshot.created_at is not None
        return RunState(
            started=started,
            finished=started and not snapshot.next,
            interrupts=interrupts,
            values=dict(snapshot.values or {}),
        )


def _config(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}
