"""What goes into a graph (the request) and what comes out of it (the report), for any state.

Pure: the input key comes from the graph's settings or :func:`bot.agents.introspect.input_key`; the
report from the settings' ``output`` key, else the last AI message, else the usual names.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

RESULT_KEYS = ("report", "result", "output")
# Passed along when the graph's state declares them (the bot's own graphs use them).
CONTEXT_KEYS = ("requester", "channel")


def inputs_for(
    declared: Collection[str], key: str, request: str, requester: str, channel: str
) -> dict[str, Any]:
    """The run's input: the request under ``key``, and who asked and where, for a state that
    declares ``requester`` / ``channel``."""
    value: Any = [{"role": "user", "content": request}] if key == "messages" else request
    inputs: dict[str, Any] = {key: value}
    context = {"requester": requester, "channel": channel}
    for name in CONTEXT_KEYS:
        if name in declared and name != key:
            inputs[name] = context[name]
    return inputs


def _text(value: Any) -> str | None:
    if value is None:
        return None
    content = getattr(value, "content", value)
    if isinstance(content, list):  # content blocks
        parts = [p.get("text", "") if isinstance(p, Mapping) else str(p) for p in content]
        content = "".join(parts)
    text = str(content).strip()
    return text or None


def _last_ai_message(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        kind = getattr(message, "type", None)
        if kind is None and isinstance(message, Mapping):
            kind = message.get("type") or message.get("role")
        if kind in ("ai", "assistant"):
            text = _text(message if not isinstance(message, Mapping) else message.get("content"))
            if text:
                return text
    return None


def report_of(values: Mapping[str, Any], output_key: str | None = None) -> str:
    if output_key:
        return _text(values.get(output_key)) or f"Done ({output_key} is empty)."
    found = _last_ai_message(values.get("messages"))
    if found:
        return found
    for key in RESULT_KEYS:
        found = _text(values.get(key))
        if found:
            return found
    for key, value in values.items():
        if key.startswith("final_") and _text(value):
            return _text(value) or ""
    return "Done."
