"""The graphs the bot may run, from a ``langgraph.json`` in LangGraph CLI's format.

``{"graphs": {"name": "./path/file.py:attr"}, "dependencies": ["."], "env": ".env"}``: ``attr``
may be an uncompiled ``StateGraph``, a compiled graph (its own checkpointer is replaced by the
bot's; its ``interrupt_before``/``interrupt_after`` are kept), or a function returning either.
A function may take no argument, a ``config`` (as LangGraph CLI passes), or a ``toolbox`` (the
bot's model and action registry, for the graphs it ships). Anything wrong fails start-up with a
:class:`~bot.config.ConfigError` naming the file, the graph and the cause.

:func:`known_names` says what the built graphs have (nodes, actions, gated tools), for the policy
file's names to be checked against (:mod:`bot.policy_names`).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import sys
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from bot.config import ConfigError
from bot.graph_settings import GraphSettings
from bot.policy_names import GraphNames

DEFAULT_CONFIG = "langgraph.json"


@dataclass(frozen=True)
class RegisteredGraph:
    name: str
    graph: Any  # compiled, on the bot's checkpointer
    description: str
    settings: GraphSettings
    input_key: str
    tools: Mapping[str, dict[str, Any]]
    state_keys: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()  # the action registry of the toolbox it was built with


def load_registry(
    path: str | Path,
    checkpointer: Any,
    settings: Mapping[str, GraphSettings],
    toolbox_factory: Callable[[], Any] | None = None,
) -> dict[str, RegisteredGraph]:
    config_path = Path(path)
    where = f"LANGGRAPH_CONFIG: {config_path}"
    try:
        data = json.loads(config_path.read_text())
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror})") from None
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid JSON: {exc}") from None
    graphs = data.get("graphs") if isinstance(data, dict) else None
    if not isinstance(graphs, dict) or not graphs:
        raise ConfigError(f'{where}: needs a "graphs" mapping of name to "./file.py:attr"')
    root = config_path.resolve().parent
    for dependency in data.get("dependencies") or ["."]:
        if isinstance(dependency, str) and not dependency.startswith(("http", "git+")):
            folder = str((root / dependency).resolve())
            if folder not in sys.path:
                sys.path.insert(0, folder)
    # Settings for a graph this file does not register are the policy file's mistake, reported
    # with the file's other names (bot.policy_names).
    registry: dict[str, RegisteredGraph] = {}
    for name, spec in graphs.items():
        try:
            registry[name] = _load_one(
                name, spec, root, checkpointer, settings.get(name), toolbox_factory
            )
        except ConfigError as exc:  # e.g. a toolbox missing its settings: say which graph
            raise ConfigError(f"{where}: graph {name!r} ({spec}): {exc}") from exc
        except Exception as exc:
            raise ConfigError(
                f"{where}: graph {name!r} ({spec}): {type(exc).__name__}: {exc}"
            ) from exc
    return registry


def _load_one(
    name: str,
    spec: Any,
    root: Path,
    checkpointer: Any,
    settings: GraphSettings | None,
    toolbox_factory: Callable[[], Any] | None,
) -> RegisteredGraph:
    if isinstance(spec, dict):  # LangGraph CLI also allows {"path": ..., "description": ...}
        spec = spec.get("path")
    if not isinstance(spec, str) or ":" not in spec:
        raise ValueError('expected "./path/file.py:attribute"')
    file_part, attr = spec.rsplit(":", 1)
    module = _import(root, file_part, name)
    if not hasattr(module, attr):
        raise ValueError(f"{file_part} has no attribute {attr!r}")
    target = getattr(module, attr)
    graph, toolbox = target, None
    if callable(target) and not isinstance(target, StateGraph | Pregel):
        graph, toolbox = _call_factory(target, toolbox_factory)
    if isinstance(graph, StateGraph):
        compiled = graph.compile(checkpointer=checkpointer)
    elif isinstance(graph, Pregel):
        compiled = graph.copy(update={"checkpointer": checkpointer})
    else:
        raise ValueError(f"{attr} is a {type(graph).__name__}, not a StateGraph or compiled graph")
    settings = settings or GraphSettings()
    description = (
        settings.description
        or _first_line(target.__doc__ if inspect.isfunction(target) else None)
        or _first_line(module.__doc__)
    )
    return RegisteredGraph(
        name=name,
        graph=compiled,
        description=description,
        settings=settings,
        input_key=settings.input or input_key(compiled),
        tools=tool_schemas(compiled),
        state_keys=tuple(state_fields(compiled)),
        actions=tuple(getattr(getattr(toolbox, "actions", None), "specs", None) or ()),
    )


def _import(root: Path, file_part: str, graph: str) -> ModuleType:
    path = (root / file_part).resolve()
    if not path.is_file():
        raise ValueError(f"no file {file_part} (looked at {path})")
    # A file inside an importable package is imported by its dotted name, so it is the same
    # module the rest of the project imports; any other file is loaded on its own.
    try:
        relative = path.relative_to(root).with_suffix("")
    except ValueError:
        relative = None
    if relative is not None and all(
        (root.joinpath(*relative.parts[: i + 1]) / "__init__.py").is_file()
        for i in range(len(relative.parts) - 1)
    ):
        dotted = ".".join(relative.parts)
        try:
            module = importlib.import_module(dotted)
        except ModuleNotFoundError as exc:  # its folder is not on sys.path: load the file
            if not exc.name or not (dotted + ".").startswith(exc.name + "."):
                raise
        else:
            # The name may be another module's (the standard library's, say): load the file.
            if Path(getattr(module, "__file__", None) or "").resolve() == path:
                return module
    module_name = f"_registered_graph_{graph}"
    loader = importlib.util.spec_from_file_location(module_name, path)
    if loader is None or loader.loader is None:
        raise ValueError(f"cannot import {path}")
    module = importlib.util.module_from_spec(loader)
    sys.modules[module_name] = module
    loader.loader.exec_module(module)
    return module


def _call_factory(
    factory: Callable[..., Any], toolbox_factory: Callable[[], Any] | None
) -> tuple[Any, Any]:
    """What the factory returns, and the toolbox it was given (None when it took none)."""
    params = list(inspect.signature(factory).parameters.values())
    required = [p for p in params if p.default is inspect.Parameter.empty]
    if not params:
        return factory(), None
    if params[0].name == "toolbox" and toolbox_factory is not None:
        toolbox = toolbox_factory()
        return factory(toolbox), toolbox
    if params[0].name == "config" or not required:
        return (factory({}) if params[0].name == "config" else factory()), None
    raise ValueError(f"{factory.__name__}() needs arguments the bot cannot give: {params[0].name}")


def _first_line(text: str | None) -> str:
    if not text:
        return ""
    lines = [line.strip() for line in text.strip().splitlines()]
    paragraph = []
    for line in lines:
        if not line:
            break
        paragraph.append(line)
    return " ".join(paragraph)[:200]


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


def known_names(registry: Mapping[str, RegisteredGraph]) -> dict[str, GraphNames | None]:
    """What each graph has, by name; None for a graph that is not built here (on a server)."""
    return {
        name: None
        if g.graph is None
        else GraphNames(
            nodes=frozenset(n for n in getattr(g.graph, "nodes", {}) if n != "__start__"),
            actions=frozenset(g.actions),
            gated=frozenset(gated_tools(g.graph)),
            tools=frozenset(g.tools),
        )
        for name, g in registry.items()
    }


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
