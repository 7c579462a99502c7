"""The one form of every policy file error, and the "did you mean" hint.

Every message names the variable, the file and the dotted key, and for a name the bot does not
know, the closest one it does::

    POLICY_FILE: policy.yaml: default: unknown section; did you mean defaults?
    (known: defaults, graphs, actions)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from bot.config import ConfigError


def problem(path: str | None, where: str, text: str) -> ConfigError:
    """``POLICY_FILE: <file>: <dotted key>: <text>``."""
    return ConfigError(f"POLICY_FILE: {path}: {where}: {text}")


def unknown(name: str, known: Iterable[str], what: str) -> str:
    """ "unknown key; did you mean quorum? (known: …)"."""
    return f"unknown {what}{closest(name, known)}"


def closest(name: str, known: Iterable[str]) -> str:
    """ "; did you mean quorum? (known: …)": the closest known name, when one is close."""
    choices = list(dict.fromkeys(known))
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"{hint} (known: {', '.join(choices) if choices else 'none'})"
