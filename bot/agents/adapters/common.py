"""Small helpers the adapters share: readable details and expiry wording."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.domain.models import Decision

DETAIL_CHARS = 2000


def shown(value: Any) -> str:
    """A value as a reviewer reads it: strings as they are, everything else as JSON."""
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, indent=1, default=str)
    except (TypeError, ValueError):
        return str(value)


def details(values: Mapping[str, Any], skip: tuple[str, ...] = ()) -> tuple[tuple[str, str], ...]:
    return tuple((str(k), shown(v)) for k, v in values.items() if k not in skip)


def long_text(values: Mapping[str, Any]) -> str | None:
    """The whole of the values when some of them are too long for the card."""
    if any(len(shown(v)) > DETAIL_CHARS for v in values.values()):
        return "\n\n".join(f"{k}:\n{shown(v)}" for k, v in values.items())
    return None


def expiry_message(decision: Decision) -> str:
    reason = decision.reason or "the request expired"
    return f"Nobody answered before the deadline ({reason}); no person decided this."
