"""JSON as a reviewer reads it: one strict reading for the Edit form and the actions.

Python's ``json`` reads ``NaN``, ``Infinity`` and ``1e999`` (as a float that is not finite) and
writes them back as ``NaN``/``Infinity``, which are not JSON: a payload checked with it could
go out as something no JSON reader takes. Here they are refused, and so is an integer too large
for a double (most JSON readers read every number as one: 1 followed by 400 zeros is infinity
there).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any, NoReturn


def _constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON value")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text} is too large a number")
    return number


def _bounded(text: str) -> int:
    number = int(text)
    if abs(number) > sys.float_info.max:
        raise ValueError(f"{text[:12]}… ({len(text)} digits) is too large a number")
    return number


def parse(text: str) -> tuple[Any, str | None]:
    """``text`` read as strict JSON, and None; or None and why it is not (for the person who
    typed it: what is wrong, and where)."""
    try:
        value = json.loads(text, parse_constant=_constant, parse_float=_finite, parse_int=_bounded)
        return value, None
    except json.JSONDecodeError as exc:
        return None, f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
    except ValueError as exc:
        return None, f"Not valid JSON: {exc}."
