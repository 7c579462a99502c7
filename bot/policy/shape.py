"""Which keys may appear where in the policy file: a typo stops start-up instead of a rule.

A misspelt key is not an error YAML can see: ``actions: {send_email: {quorom: 2}}`` reads fine,
and a reader that looks up ``quorum`` finds nothing and applies the default, so the two-person
rule is silently gone. Every reader of the file (:func:`bot.core.timeline.read_policy_file`) runs
:func:`check_shape` first, so no section, key, stage key, escalation key or button key it does not
know gets past start-up, nor ``python -m bot try``. Values are checked by the readers themselves
(:mod:`bot.core.signoff`, :mod:`bot.core.timeline`, :mod:`bot.agents.graph_settings`); names that
only the
registered graphs can confirm (actions, tools, nodes) by :mod:`bot.policy.names`.

Every message names the variable, the file and the dotted key, and the closest known name::

    POLICY_FILE: policy.yaml: default: unknown section; did you mean defaults?
    (known: defaults, graphs, actions)
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from typing import Any

from bot.config import ConfigError

SECTIONS = ("defaults", "graphs", "actions")
# Reminders, escalation and expiry (bot.core.timeline).
TIMELINE_KEYS = ("remind_after", "expire_after", "expire_as", "escalation")
# Who must sign, how many and in which order (bot.core.signoff).
SIGNOFF_KEYS = ("approvers", "allow_self_approval", "quorum", "rejections", "stages", "distinct")
# How the bot talks to one graph (bot.agents.graph_settings): only under graphs.<name>.
SETTINGS_KEYS = (
    "description",
    "input",
    "output",
    "edit",
    "breakpoints",
    "ask_twice",
    "resume",
    "update",
    "buttons",
)
STAGE_KEYS = ("name", "approvers", "allow_self_approval", "quorum", "rejections", "at")
LEVEL_KEYS = ("after", "to", "channel", "repeat", "every")
BUTTON_KEYS = ("label", "asks", "rounds")

SECTION_KEYS = {
    "defaults": (*SIGNOFF_KEYS, *TIMELINE_KEYS),
    "graphs": (*SIGNOFF_KEYS, *TIMELINE_KEYS, *SETTINGS_KEYS),
    "actions": (*SIGNOFF_KEYS, *TIMELINE_KEYS),
}


def problem(path: str | None, where: str, text: str) -> ConfigError:
    """``POLICY_FILE: <file>: <dotted key>: <text>``, the form of every policy file error."""
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


def check_shape(data: Mapping[str, Any], path: str | None) -> None:
    """Raise :class:`ConfigError` at the first section or key the file should not have."""
    for section in data:
        if section not in SECTIONS:
            raise problem(path, str(section), unknown(str(section), SECTIONS, "section"))
    _section(data.get("defaults"), "defaults", SECTION_KEYS["defaults"], path)
    for group in ("graphs", "actions"):
        entries = data.get(group)
        if entries is None:
            continue
        if not isinstance(entries, Mapping):
            kind = "graph" if group == "graphs" else "action"
            raise problem(path, group, f"must map each {kind} name to its section")
        for name, body in entries.items():
            _section(body, f"{group}.{name}", SECTION_KEYS[group], path)


def _section(body: Any, where: str, allowed: tuple[str, ...], path: str | None) -> None:
    if body is None:  # `send_email:` with nothing under it yet
        return
    if not isinstance(body, Mapping):
        raise problem(path, where, "must be a mapping of keys to values")
    for key in body:
        if key in allowed:
            continue
        if key in SETTINGS_KEYS:
            text = f"{key} is a graph's setting: it belongs under graphs.<name>"
        else:
            text = unknown(str(key), allowed, "key")
        raise problem(path, f"{where}.{key}", text)
    _entries(body.get("stages"), f"{where}.stages", STAGE_KEYS, "stage key", path)
    _entries(body.get("escalation"), f"{where}.escalation", LEVEL_KEYS, "escalation key", path)
    buttons = body.get("buttons")
    if isinstance(buttons, Mapping):
        for name, spec in buttons.items():
            if isinstance(spec, Mapping):
                _keys(spec, f"{where}.buttons.{name}", BUTTON_KEYS, "button key", path)


def _entries(
    entries: Any, where: str, allowed: tuple[str, ...], what: str, path: str | None
) -> None:
    """The keys of each mapping in a list (what is not a list of mappings, the reader refuses)."""
    if not isinstance(entries, list):
        return
    for index, entry in enumerate(entries):
        if isinstance(entry, Mapping):
            _keys(entry, f"{where}[{index}]", allowed, what, path)


def _keys(
    body: Mapping[str, Any], where: str, allowed: tuple[str, ...], what: str, path: str | None
) -> None:
    for key in body:
        if key not in allowed:
            raise problem(path, f"{where}.{key}", unknown(str(key), allowed, what))
