"""What a compiled graph has, read off the graph itself: the key its request goes in, its
input fields, its tools' argument schemas, and the tools a LangChain human-in-the-loop
middleware asks about. Pure: a graph in, plain values out."""

from __future__ import annotations

import typing
from collections.abc import Mapping
from typing import Any

from langgraph.pregel import Pregel


def state_fields(compiled: Any) -> dict[str, Any]:
    """The graph's input keys and their annotated types (``Any`` where unknown)."""
    schema = getattr(getattr(compiled, "builder", None), "input_schema", None)
    try:
        return dict(typing.get_type_hints(schema)) if schema is not None else {}
    except Exception:
        pass
    try:
        return schema_fields(compiled.get_input_jsonschema())
    except Exception:
        return {}


def schema_fields(schema: Mapping[str, Any]) -> dict[str, Any]:
    """Input keys from a JSON schema of the input (``str`` for strings, else ``Any``)."""
    properties = schema.get("properties") or {}
    return {k: str if v.get("type") == "string" else Any for k, v in properties.items()}


def _is_text(annotation: Any) -> bool:
    if annotation is str:
        return True
    args = typing.get_args(annotation)  # Optional[str]
    return bool(args) and all(a in (str, type(None)) for a in args) and str in args


def input_key(compiled: Any) -> str:
    """Where the request goes: ``messages`` if the state has it, else its only string field,
    else ``request``."""
    return key_of(state_fields(compiled))


def key_of(fields: Mapping[str, Any]) -> str:
    """:func:`input_key`, from the input's fields and their types."""
    if "messages" in fields:
        return "messages"
    strings = [k for k, v in fields.items() if _is_text(v)]
    if len(strings) == 1:
        return strings[0]
    return "request"


def tool_schemas(compiled: Any) -> dict[str, dict[str, Any]]:
    """Argument schemas of the tools the graph's tool nodes can call, by tool name."""
    schemas: dict[str, dict[str, Any]] = {}
    for node in getattr(compiled, "nodes", {}).values():
        tools = getattr(getattr(node, "bound", None), "tools_by_name", None)
        for name, tool in (tools or {}).items():
            try:
                schema = tool.tool_call_schema
                schemas[name] = (
                    schema.model_json_schema() if hasattr(schema, "model_json_schema") else schema
                )
            except Exception:
                continue
    return schemas


def gated_tools(compiled: Any) -> set[str]:
    """The tools a LangChain ``HumanInTheLoopMiddleware`` asks about before they run.

    ``create_agent`` adds the middleware's ``after_model`` hook as a node (in either interrupt
    mode), bound to the middleware, whose ``interrupt_on`` lists the gated tools; a compiled
    graph used as a node (a subgraph) is searched too."""
    names: set[str] = set()
    for node in getattr(compiled, "nodes", {}).values():
        bound = getattr(node, "bound", None)
        if isinstance(bound, Pregel):
            names |= gated_tools(bound)
            continue
        middleware = getattr(getattr(bound, "func", None), "__self__", None)
        gates = getattr(middleware, "interrupt_on", None)
        if isinstance(gates, Mapping):
            names |= {str(tool) for tool in gates}
    return names
