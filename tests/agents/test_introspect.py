"""What a compiled graph has, read off the graph itself (bot.agents.introspect): where its request
goes (``messages``, else its one text field, else ``request``), its input fields from type hints
or its JSON schema, its tools' argument schemas, and the tools a human-in-the-loop middleware
gates, in either interrupt mode and inside a subgraph."""

from __future__ import annotations

from typing import Annotated, Any, Optional, TypedDict

import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.messages import AIMessage, AnyMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode

from bot.agents.introspect import (
    gated_tools,
    input_key,
    key_of,
    schema_fields,
    state_fields,
    tool_schemas,
)
from tests.support.scripted_model import Scripted


@tool
def send_email(to: str, subject: str) -> str:
    """Send an email."""
    return "sent"


@tool
def look_up(query: str) -> str:
    """Look something up."""
    return "found"


def compiled(state: type) -> Any:
    graph = StateGraph(state)
    graph.add_node("step", lambda s: {})
    graph.add_edge(START, "step")
    graph.add_edge("step", END)
    return graph.compile()


class Chat(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]
    topic: str


class OneText(TypedDict, total=False):
    drug_name: Optional[str]  # noqa: UP045 (an older spelling graphs still use)
    dose: int


class TwoTexts(TypedDict):
    first: str
    second: str


class NoText(TypedDict):
    count: int


@pytest.mark.parametrize(
    ("state", "key"),
    [(Chat, "messages"), (OneText, "drug_name"), (TwoTexts, "request"), (NoText, "request")],
)
def test_the_request_goes_under_messages_else_the_one_text_field_else_request(state, key):
    assert input_key(compiled(state)) == key


def test_key_of_reads_optional_and_union_text_as_text():
    assert key_of({"note": str | None, "n": int}) == "note"
    assert key_of({"note": str | int}) == "request"  # not only text
    assert key_of({}) == "request"


def test_input_fields_come_from_the_state_types():
    fields = state_fields(compiled(OneText))
    assert set(fields) == {"drug_name", "dose"} and fields["dose"] is int


def test_input_fields_from_a_json_schema_when_the_types_cannot_be_read():
    class Unreadable(TypedDict):
        query: NotDefinedAnywhere  # type: ignore[name-defined]  # noqa: F821

    class Builder:
        input_schema = Unreadable

    class Opaque:
        builder = Builder()

        def get_input_jsonschema(self) -> dict[str, Any]:
            return {"properties": {"query": {"type": "string"}, "limit": {"type": "integer"}}}

    assert state_fields(Opaque()) == {"query": str, "limit": Any}
    assert input_key(Opaque()) == "query"


def test_a_graph_that_shows_nothing_has_no_fields():
    assert state_fields(object()) == {}
    assert input_key(object()) == "request"
    assert schema_fields({}) == {}


def test_tool_schemas_are_the_tool_nodes_tools_by_name():
    graph = StateGraph(Chat)
    graph.add_node("tools", ToolNode([send_email, look_up]))
    graph.add_edge(START, "tools")
    graph.add_edge("tools", END)

    schemas = tool_schemas(graph.compile())

    assert set(schemas) == {"send_email", "look_up"}
    assert set(schemas["send_email"]["properties"]) == {"to", "subject"}
    assert tool_schemas(compiled(Chat)) == {}


def _agent(mode: str) -> Any:
    gate = HumanInTheLoopMiddleware(
        {"send_email": {"allowed_decisions": ["approve", "reject"]}}, interrupt_mode=mode
    )
    model = Scripted(replies=[AIMessage(content="Done.")])
    return create_agent(model, tools=[send_email, look_up], middleware=[gate])


@pytest.mark.parametrize("mode", ["batched", "per_call"])
def test_the_tools_a_middleware_gates_and_only_those(mode):
    assert gated_tools(_agent(mode)) == {"send_email"}


def test_gated_tools_inside_a_subgraph_are_found():
    outer = StateGraph(Chat)
    outer.add_node("agent", _agent("per_call"))
    outer.add_edge(START, "agent")
    outer.add_edge("agent", END)
    assert gated_tools(outer.compile()) == {"send_email"}


def test_an_agent_without_a_gate_gates_nothing():
    model = Scripted(replies=[AIMessage(content="Done.")])
    assert gated_tools(create_agent(model, tools=[send_email])) == set()
    assert gated_tools(compiled(NoText)) == set()
