"""Names in the policy file that only the registered graphs can confirm.

The file itself is read and checked before the graphs are built (:mod:`bot.policy.model`); its
names are checked here once they are, on the same validated model.

A section for an action nobody has (``actions: {send_emial: {quorum: 2}}``) matches no request,
so the rule it holds never applies; a stage ``at`` a node the graph does not have routes no pause.
Both stop start-up here, naming the file, the key and the closest real name. What counts as real
comes from the registry (:func:`bot.agents.registry.known_names`), passed in as plain data:

- ``graphs.<name>``: a graph ``langgraph.json`` registers;
- ``actions.<name>``: an action of the bot's action registry, in a graph built with the bot's
  toolbox (the shipped ``action`` graph), or a tool a ``HumanInTheLoopMiddleware`` gates;
- ``stages[].at``: a node of the graph (for ``actions.<name>``, of a graph that has the action;
  for ``defaults``, of any graph).

Graphs on a LangGraph Server are not built here: their nodes and tools are unknown (``None``),
so what depends on them is left unchecked and :func:`check_names` says so in what it returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bot.agents.registry import GraphNames
from bot.policy.errors import closest, problem
from bot.policy.model import PolicyModel, Section

Known = Mapping[str, GraphNames | None]  # by graph name; None: not inspectable (on a server)


def check_names(model: PolicyModel, path: str | None, known: Known) -> list[str]:
    """Raise at the first name no registered graph has; return what could not be checked."""
    unchecked: list[str] = []
    for name, body in model.graphs.items():
        where = f"graphs.{name}"
        if name not in known:
            text = f"LANGGRAPH_CONFIG registers no graph called {name}{closest(name, known)}"
            raise problem(path, where, text)
        names = known[name]
        if names is None:
            if _stages_at(body):
                unchecked.append(f"{where}.stages: `at` (the graph runs on a LangGraph Server)")
            continue
        _check_at(body, where, names.nodes, f"graph {name}", path)
    opaque = sorted(n for n, names in known.items() if names is None)
    if opaque:
        if model.actions:
            unchecked.append(f"actions (graphs on a LangGraph Server: {', '.join(opaque)})")
        if _stages_at(model.defaults):
            unchecked.append("defaults.stages: `at` (graphs on a LangGraph Server)")
        return unchecked
    inspected = {n: names for n, names in known.items() if names is not None}
    for name, action in model.actions.items():
        where = f"actions.{name}"
        having = {g: names for g, names in inspected.items() if name in names.askable}
        if not having:
            raise problem(path, where, _no_action(name, inspected))
        nodes = frozenset().union(*(names.nodes for names in having.values()))
        owner = f"the graphs with {name} ({', '.join(sorted(having))})"
        _check_at(action, where, nodes, owner, path)
    every_node = frozenset().union(*(names.nodes for names in inspected.values()))
    _check_at(model.defaults, "defaults", every_node, "any registered graph", path)
    return unchecked


def _no_action(name: str, graphs: Mapping[str, GraphNames]) -> str:
    askable = sorted(frozenset().union(*(g.askable for g in graphs.values())))
    owners = sorted(g for g, names in graphs.items() if name in names.tools)
    if owners:  # a tool that runs without asking anyone: its section would never apply
        why = (
            f"{name} is a tool of {', '.join(owners)} that no HumanInTheLoopMiddleware gates, "
            "so no request is ever about it"
        )
    else:
        why = f"no registered graph has an action or tool called {name}"
    return why + closest(name, askable)


def _stages_at(section: Section) -> bool:
    return any(stage.at is not None for stage in section.stages or ())


def _check_at(
    section: Section, where: str, nodes: Iterable[str], owner: str, path: str | None
) -> None:
    nodes = sorted(nodes)
    for index, stage in enumerate(section.stages or ()):
        if stage.at is not None and stage.at not in nodes:
            text = f"no node called {stage.at} in {owner}{closest(stage.at, nodes)}"
            raise problem(path, f"{where}.stages[{index}].at", text)
