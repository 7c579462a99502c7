"""What graph nodes may use: the model, the action registry, and at-most-once effects."""

from __future__ import annotations

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
