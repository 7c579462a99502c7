"""Small helpers the adapters share: readable details and expiry wording."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from bot.domain.models import Decision


def shown(value: Any) -> str:
    """A value as a reviewer reads it: strings as they are, everything else as JSON -- but a
    string that reads as another JSON value (``"false"``, ``"42"``, ``"null"``) in quotes, so
    it is not taken for the boolean, number or null a tool would treat differently."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False) if _reads_as_json(value) else value
    try:
        return json.dumps(value, ensure_ascii=False, indent=1, default=str)
    except (TypeError, ValueError):
        return str(value)


def _reads_as_json(text: str) -> bool:
    try:
        return not isinstance(json.loads(text), str | list | dict)
    except ValueError:
        return False


def details(values: Mapping[str, Any], skip: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), shown(v)) for k, v in values.items() if k not in skip)


def long_text(values: Mapping[str, Any]) -> str | None:
    """The whole of the values, behind "View full text" (the card offers it when it has to
    shorten them)."""
    if not values:
        return None
    return "\n\n".join(f"{k}:\n{shown(v)}" for k, v in values.items())


def calls_text(calls: Sequence[tuple[str, Mapping[str, Any]]]) -> str | None:
    """Every tool call in full, numbered when there are several, behind "View full text"."""
    parts = [
        f"{f'{n}. ' if len(calls) > 1 else ''}{name}\n\n{long_text(args) or '(no arguments)'}"
        for n, (name, args) in enumerate(calls, 1)
    ]
    return "\n\n\n".join(parts) or None


def expiry_message(decision: Decision) -> str:
    reason = decision.reason or "the request expired"
    return f"Nobody answered before the deadline ({reason}); no person decided this."
