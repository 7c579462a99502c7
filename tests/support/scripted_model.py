"""A chat model for graphs built in a test: it answers with the next of its scripted messages."""

from __future__ import annotations

from typing import Any

from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.outputs import ChatGeneration, ChatResult


class Scripted(BaseChatModel):
    """A chat model that answers with the next of its scripted messages (the last, once they
    run out)."""

    replies: list[Any]
    said: int = 0

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Any, **kwargs: Any) -> Scripted:  # type: ignore[override]
        return self

    def _generate(self, messages: Any, stop: Any = None, run_manager: Any = None, **kw: Any):
        reply = self.replies[min(self.said, len(self.replies) - 1)]
        self.said += 1
        return ChatResult(generations=[ChatGeneration(message=reply.model_copy())])
