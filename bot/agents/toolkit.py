"""What the shipped graphs' toolbox is built from, the same in the bot and on a LangGraph Server:
the model (``OPENAI_*``) and the actions (Slack, email, webhooks) from the settings."""

from __future__ import annotations

from collections.abc import Callable

from langchain_core.language_models import BaseChatModel
from pydantic import SecretStr

from bot.agents.deadline_http import deadline_client
from bot.agents.no_model import NoModel
from bot.config import Settings
from bot.core.effect_slots import EffectSlots
from graphs.actions import ActionRegistry, default_registry

MODEL_RETRIES = 2  # tries after the first, of a model request that failed or was cut off
OPENAI_URL = "https://api.openai.com/v1"  # the model's server when OPENAI_BASE_URL is unset


def unreachable_model(exc: BaseException, base_url: str | None) -> str:
    """What to check when the model's server could not be reached (a wrong OPENAI_BASE_URL, or
    the server is down: the client's own message says only "Connection error.") or did not
    answer in time (OPENAI_TIMEOUT); empty for any other error. ``base_url``: OPENAI_BASE_URL
    as set."""
    # langchain-openai's client, as ChatOpenAI raises it (a timeout is a connection error too)
    from openai import APIConnectionError, APITimeoutError

    if not isinstance(exc, APIConnectionError):
        return ""
    url = (base_url or "").strip() or OPENAI_URL
    if isinstance(exc, APITimeoutError):  # reached, or may have been: slow, not misaddressed
        return (
            f" (the model's server at {url} did not answer within OPENAI_TIMEOUT: raise it, "
            "or check the server)"
        )
    return f" (cannot reach the model's server at {url}: check OPENAI_BASE_URL, and that it is up)"


def make_llm(settings: Settings) -> BaseChatModel:
    if settings.openai_api_key is None:  # the graphs that call the model fail, when they do
        return NoModel()  # type: ignore[return-value]

    return model_client(
        settings.openai_model,
        settings.openai_api_key,
        settings.openai_base_url,
        settings.openai_timeout,
    )


def model_client(model: str, key: str, base_url: str | None, timeout: float) -> BaseChatModel:
    """ChatOpenAI, each of its requests bounded as a whole by ``timeout`` (``OPENAI_TIMEOUT``).
    ChatOpenAI has no timeout of its own, and the one it takes is httpx's: it bounds each socket
    read, so a server trickling its answer would hold the worker (and the run's lease) for good.
    A request cut off is tried ``MODEL_RETRIES`` more times, so a model call gives up after
    ``(1 + MODEL_RETRIES) * timeout`` seconds and the client's short backoffs between tries."""
    from langchain_openai import ChatOpenAI

    return ChatOpenAI(
        model=model,
        api_key=SecretStr(key),
        base_url=base_url,
        timeout=timeout,
        max_retries=MODEL_RETRIES,
        http_client=deadline_client(timeout, proxied_for=base_url or OPENAI_URL),
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
