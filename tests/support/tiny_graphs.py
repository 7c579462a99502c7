"""Small real LangGraph graphs, compiled on an in-memory checkpointer, and the bot's driver
over them: for unit tests of the agents package (no model, no database, no process)."""

from __future__ import annotations

from typing import Any, TypedDict

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from bot.agents.driver import Driver
from bot.agents.graph_settings import GraphSettings
from bot.agents.registry import RegisteredGraph
from bot.agents.runner import InProcessRunner
from bot.domain.models import Run


class State(TypedDict, total=False):
    request: str
    requester: str
    result: str


def ask(state: State) -> dict[str, Any]:
    answer = interrupt({"to": "team", "subject": state["request"]})
    return {"result": f"{answer['type']} by {answer['by']}: {answer.get('parameters')}"}


def asking() -> Any:
    """One node that asks (a plain ``interrupt`` of a dict) and records the answer."""
    builder = StateGraph(State)
    builder.add_node("ask", ask)
    builder.add_edge(START, "ask")
    builder.add_edge("ask", END)
    return builder.compile(checkpointer=InMemorySaver())


def stepping() -> Any:
    """Two steps with a static breakpoint before the second."""
    builder = StateGraph(State)
    builder.add_node("first", lambda s: {"result": "first"})
    builder.add_node("second", lambda s: {"result": s["result"] + ", second"})
    builder.add_edge(START, "first")
    builder.add_edge("first", "second")
    builder.add_edge("second", END)
    return builder.compile(checkpointer=InMemorySaver(), interrupt_before=["second"])


def registered(name: str, graph: Any, settings: GraphSettings | None = None) -> RegisteredGraph:
    return RegisteredGraph(
        name, graph, name, settings or GraphSettings(), "request", {}, ("request", "requester")
    )


def driver_for(*graphs: RegisteredGraph) -> Driver:
    """A driver over ``graphs``, each run by the in-process runner."""
    return Driver(InProcessRunner({g.name: g.graph for g in graphs}), {g.name: g for g in graphs})


def run_of(graph: str, thread_id: str = "t1") -> Run:
    """A run record as the store keeps it, asked by U0ASKER in C0ASK."""
    return Run(
        thread_id, graph, "Quarterly numbers", "U0ASKER", "C0ASK", "C0CARDS", "running", None,
        0.0, 0.0,
    )  # fmt: skip
