"""The graphs the bot may run, from a ``langgraph.json`` in LangGraph CLI's format.

``{"graphs": {"name": "./path/file.py:attr"}, "dependencies": ["."], "env": ".env"}``. An entry
is a file (``./agents/mailer.py:build``) or a module (``agents.mailer:build``). Local
``dependencies`` folders go on ``sys.path`` (packages named there must be installed already:
nothing is installed); ``env`` (a dotenv file or a mapping) is read by the
caller before the settings (both in :mod:`bot.agents.langgraph_json`). ``attr``
may be an uncompiled ``StateGraph``, a compiled graph (its own checkpointer is replaced by the
bot's; its ``interrupt_before``/``interrupt_after`` are kept), or a function returning either.
A function may take no argument, a ``config`` (as LangGraph CLI passes), or a ``toolbox`` (the
bot's model and action registry, for the graphs it ships). Anything wrong fails start-up with a
:class:`~bot.config.ConfigError` naming the file, the graph and the cause.

:func:`known_names` says what the built graphs have (nodes, actions, gated tools), for the policy
file's names to be checked against (:mod:`bot.policy.names`).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import inspect
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from langgraph.graph import StateGraph
from langgraph.pregel import Pregel

from bot.agents.graph_settings import GraphSettings
from bot.agents.introspect import gated_tools, input_key, state_fields, tool_schemas
from bot.agents.langgraph_json import add_dependencies, read_config
from bot.config import ConfigError


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
    data, where = read_config(path)
    graphs = data.get("graphs")
    if not isinstance(graphs, dict) or not graphs:
        raise ConfigError(f'{where}: needs a "graphs" mapping of name to "./file.py:attr"')
    root = Path(path).resolve().parent
    add_dependencies(data, root, where)
    # Settings for a graph this file does not register are the policy file's mistake, reported
    # with the file's other names (bot.policy.names).
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
        raise ValueError('expected "./path/file.py:attribute" or "package.module:attribute"')
    file_part, attr = spec.rsplit(":", 1)
    module = (
        _import_module(file_part) if is_module_path(file_part) else _import(root, file_part, name)
    )
    if not hasattr(module, attr):
        raise ValueError(f"{file_part} has no attribute {attr!r}")
    target = getattr(module, attr)
    graph, toolbox = target, None
    if callable(target) and not isinstance(target, StateGraph | Pregel):
        graph, toolbox = _call_factory(target, toolbox_factory)
    compiled: Any
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


def is_module_path(text: str) -> bool:
    """``agents.mailer`` (a dotted module, as LangGraph CLI allows) rather than a file path."""
    return bool(re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", text)) and text != "py"


def _import_module(dotted: str) -> ModuleType:
    try:
        return importlib.import_module(dotted)
    except ModuleNotFoundError as exc:
        if exc.name and (dotted + ".").startswith(exc.name + "."):
            raise ValueError(
                f"no module {dotted} on sys.path (the dependencies folders are on it; "
                "a file is written ./path/file.py)"
            ) from None
        raise


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


@dataclass(frozen=True)
class GraphNames:
    """What one registered graph has, by name."""

    nodes: frozenset[str] = frozenset()
    actions: frozenset[str] = frozenset()  # the action registry its `kind: action` pauses use
    gated: frozenset[str] = frozenset()  # tools a HumanInTheLoopMiddleware asks about
    tools: frozenset[str] = frozenset()  # every tool it can call, gated or not

    @property
    def askable(self) -> frozenset[str]:
        """Names a pause of this graph can carry, so an ``actions`` section can match them."""
        return self.actions | self.gated


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
