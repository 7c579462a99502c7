"""What the shipped graphs' toolbox is built from, the same in the bot and on a LangGraph Server:
the model (``OPENAI_*``) and the actions (Slack, email, webhooks) from the settings."""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from bot.agents.no_model import NoModel
from bot.config import Settings
from bot.core.effect_slots import EffectSlots
from graphs.actions import ActionRegistry, default_registry


def make_llm(settings: Settings) -> BaseChatModel:
    from langchain_openai import ChatOpenAI

    if settings.openai_api_key is None:  # the graphs that call the model fail, when they do
        return NoModel()  # type: ignore[return-value]

    # No timeout is ChatOpenAI's default; a hung model must not hold a worker forever.
    return ChatOpenAI(
        model=settings.openai_model,
        api_key=SecretStr(settings.openai_api_key),
        base_url=settings.openai_base_url,
        timeout=settings.openai_timeout,
        max_retries=2,
    )


def make_actions(
    settings: Settings, post_text: Callable[[str, str], str], capped: bool = True
) -> ActionRegistry:
    """``post_text(channel, text)``: how the ``post_message`` action posts (the bot's Slack
    client). ``capped``: outbound calls and emails take one of ``WEBHOOK_SLOTS`` slots of this
    process (the bot's worker pool); a LangGraph Server runs the graphs in workers of its own,
    uncapped."""
    return default_registry(
        post_text,
        settings.smtp_url,
        settings.email_from,
        settings.webhook_allowlist,
        webhook_idempotent=settings.webhook_idempotent,
        webhook_deadline=settings.webhook_deadline,
        slots=EffectSlots(settings.webhook_slots).take if capped else None,
    )
