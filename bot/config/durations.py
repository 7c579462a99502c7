"""Parse human durations such as ``90``, ``90s``, ``15m``, ``4h`` and ``2d``."""

from __future__ import annotations

import re

_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$", re.IGNORECASE)


def parse_duration(text: str) -> int:
    """Return the duration in seconds; raise ValueError naming the bad text."""
    match = _PATTERN.match(text or "")
    if not match:
        raise ValueError(f"{text!r} is not a duration (use 90, 90s, 15m, 4h or 2d)")
    return int(match.group(1)) * _UNITS[match.group(2).lower()]


def format_duration(seconds: int) -> str:
    """The shortest exact form: 86400 -> '24h' (days only past two days), 90 -> '90s'."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 and (unit != "d" or seconds > 2 * 86400):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def expiry_reason(after: int | None, expire_as: str) -> str:
    """The reason an expired request's decision records (the card and the audit show it)."""
    how = "approved" if expire_as == "approve" else "rejected"
    return f"Expired after {format_duration(int(after or 0))} — {how} automatically"
