"""What graph nodes may use: the model, the action registry, and at-most-once effects."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import RunnableConfig

from graphs.actions import ActionRegistry


class Once(Protocol):
    def once(self, key: str, effect: Callable[[], str]) -> str: ...


@dataclass(frozen=True)
class Toolbox:
    llm: BaseChatModel
    actions: ActionRegistry
    effects: Once


def thread_id(config: RunnableConfig) -> str:
    configurable: dict[str, Any] = config.get("configurable", {})
    return str(configurable["thread_id"])


def toolbox_for(given: Toolbox | RunnableConfig | None) -> Toolbox:
    """The toolbox a shipped graph's ``build`` was given: the bot passes its own; LangGraph
    Server passes its config instead, and then the graph's nodes use one built from the
    environment (on first use, in a node: the server calls ``build`` on its event loop, where
    opening a database or reading files would block it)."""
    if isinstance(given, Toolbox):
        return given
    return _FromEnvironment()  # type: ignore[return-value]


class _FromEnvironment:
    @property
    def llm(self) -> BaseChatModel:
        return _environment().llm

    @property
    def actions(self) -> ActionRegistry:
        return _environment().actions

    @property
    def effects(self) -> Once:
        return _environment().effects


@functools.cache
def _environment() -> Toolbox:
    from bot.graph_host import environment_tools  # only on a LangGraph Server

    return Toolbox(*environment_tools())
