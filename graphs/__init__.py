"""The agent graphs the bot ships. Each module exposes ``build(toolbox) -> StateGraph``
(uncompiled); the bot compiles it with its own checkpointer."""

from __future__ import annotations

from collections.abc import Callable

from langgraph.graph import StateGraph

from graphs import action, draft
from graphs.toolbox import Toolbox

GRAPHS: dict[str, Callable[[Toolbox], StateGraph]] = {
    "draft": draft.build,
    "action": action.build,
}
