"""Per-graph settings: how the bot talks to a graph it did not write, declared, not coded.

They live under ``graphs.<name>`` in the policy file (``POLICY_FILE``), beside the reminder and
expiry keys::

    graphs:
      orders:
        description: Review a drug order    # for /agent help (default: the graph's docstring)
        input: drug_name          # state key that receives the request text
        output: final_order       # state key reported when the run ends
        edit: proposed_action.parameters   # what Edit edits in a dict interrupt (a dotted
                                           # path; default: the whole value; a path naming
                                           # nothing in a pause: that card has no Edit)
        breakpoints: ask          # ask | skip (continue through static breakpoints unasked)
        ask_twice: false          # after approving at a breakpoint, answer the node's own
                                  # interrupt() with the same approval instead of asking again
        resume:                   # what interrupt() returns, per button
          approve: approved
          reject: "rejected: {reason}"
        update:                   # at a static breakpoint: written with update_state, then on
          approve: {pharmacist_decision: approved, pharmacist_notes: "{notes}"}
          revise: {pharmacist_decision: needs_revision, pharmacist_notes: "{notes}"}
        buttons:                  # extra buttons, each mapped in resume or update
          revise: {label: Request changes, asks: [notes], rounds: 3}
                                  # rounds: not offered once the run is in its third round

Placeholders: ``{by}``, ``{reason}``, ``{notes}``, ``{message}``, ``{text}``, ``{values}`` (the
edit form's values) and ``{values.NAME}``. A string that is exactly one placeholder takes the
value itself (so ``"{values}"`` is an object), otherwise placeholders are replaced as text.

Unknown keys (:mod:`bot.policy.shape`), ``resume``/``update`` entries for buttons that do not
exist and ``edit`` paths with an empty key stop start-up (:func:`parse_settings`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.config import ConfigError
from bot.core.models import Decision
from bot.core.review import STANDARD_CHOICES, Choice
from bot.core.timeline import read_policy_file
from bot.policy.shape import unknown

_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_-]+)?)\}")
_ASKS = ("notes", "reason")
# Decisions a resume or update entry may answer, besides the graph's own buttons: an expiry
# looks for ``expire`` first, a "Review each…" batch is decided as ``each``.
BUILT_IN_BUTTONS = (*STANDARD_CHOICES, "expire", "each")


@dataclass(frozen=True)
class GraphSettings:
    description: str | None = None
    input: str | None = None
    output: str | None = None
    breakpoints: str = "ask"
    ask_twice: bool = False
    edit: str | None = None
    resume: Mapping[str, Any] = field(default_factory=dict)
    update: Mapping[str, Any] = field(default_factory=dict)
    buttons: tuple[Choice, ...] = ()


def parse_settings(body: Mapping[str, Any], where: str) -> GraphSettings:
    def fail(problem: str) -> ConfigError:
        return ConfigError(f"POLICY_FILE: {where}: {problem}")

    for key in ("description", "input", "output", "edit"):
        if key in body and not isinstance(body[key], str):
            raise fail(f"{key} must be a string")
    breakpoints = body.get("breakpoints", "ask")
    if breakpoints not in ("ask", "skip"):
        raise fail("breakpoints must be ask or skip")
    if not isinstance(body.get("ask_twice", False), bool):
        raise fail("ask_twice must be true or false")
    if "edit" in body:
        _check_edit_path(body["edit"], where)
    maps = {}
    for key in ("resume", "update"):
        value = body.get(key) or {}
        if not isinstance(value, Mapping):
            raise fail(f"{key} must map button names to values")
        maps[key] = dict(value)
    _check_button_names(maps, body.get("buttons"), where)
    if any(not isinstance(v, Mapping | type(None)) for v in maps["update"].values()):
        raise fail("each update must be a mapping of state keys to values")
    buttons = []
    if not isinstance(body.get("buttons") or {}, Mapping):
        raise fail("buttons must map button names to a label and asks")
    for name, spec in (body.get("buttons") or {}).items():
        spec = spec or {}
        if not isinstance(spec, Mapping):
            raise fail(f"buttons.{name} must be a mapping")
        if name in STANDARD_CHOICES or name in ("expire", "each"):
            raise fail(f"buttons.{name}: {name} is a built-in button; map it in resume or update")
        if name not in maps["resume"] and name not in maps["update"]:
            raise fail(f"buttons.{name} needs a resume or update entry saying what it does")
        asks = spec.get("asks") or []
        asks = [asks] if isinstance(asks, str) else asks
        if not isinstance(asks, list | tuple) or any(a not in _ASKS for a in asks):
            raise fail(f"buttons.{name}.asks may hold {', '.join(_ASKS)}")
        label = str(spec.get("label") or name.replace("_", " ").capitalize())[:75]
        rounds = spec.get("rounds")
        if rounds is not None and (isinstance(rounds, bool) or not isinstance(rounds, int)):
            raise fail(f"buttons.{name}.rounds must be a whole number")
        if rounds is not None and rounds < 2:
            raise fail(f"buttons.{name}.rounds must be 2 or more (round 1 is the first card)")
        buttons.append(Choice(str(name), label, tuple(asks), rounds))
    return GraphSettings(
        description=body.get("description"),
        input=body.get("input"),
        output=body.get("output"),
        breakpoints=breakpoints,
        ask_twice=bool(body.get("ask_twice", False)),
        edit=body.get("edit"),
        resume=maps["resume"],
        update=maps["update"],
        buttons=tuple(buttons),
    )


def _check_edit_path(path: str, where: str) -> None:
    """What start-up can know of an ``edit`` path: that it names a key at every step. Whether
    the interrupt's value has those keys is only known when it pauses; then a path that names
    nothing gets no Edit button and a loud note, never the whole value (bot.agents.adapters)."""
    if not path.strip():
        raise problem_at(where, "edit", "names nothing: leave edit out to edit the whole value")
    if any(not part or part != part.strip() for part in path.split(".")):
        raise problem_at(
            where,
            "edit",
            f"{path!r} names nothing (an empty or blank key between dots); write a dotted path "
            "of keys in the interrupt's value, such as proposed_action.parameters",
        )


def _check_button_names(maps: Mapping[str, Mapping[str, Any]], buttons: Any, where: str) -> None:
    """A ``resume``/``update`` entry for a button that does not exist is never used: ``aprove``
    would leave Approve sending the default answer, which this graph does not understand."""
    extra = [str(name) for name in buttons] if isinstance(buttons, Mapping) else []
    known = (*BUILT_IN_BUTTONS, *extra)
    for key, mapping in maps.items():
        for name in mapping:
            if name not in known:
                raise problem_at(where, f"{key}.{name}", unknown(str(name), known, "button"))


def problem_at(where: str, key: str, text: str) -> ConfigError:
    """``where`` is "<file>: graphs.<name>"; the message names the key under it."""
    return ConfigError(f"POLICY_FILE: {where}.{key}: {text}")


def template_for(mapping: Mapping[str, Any], decision: Decision) -> tuple[bool, Any]:
    """(found, template) for this decision: ``expire`` first for expiries, then the effective
    type (an expiry acts as its policy's approve or reject)."""
    names = ["expire", decision.effective_type] if decision.type == "expire" else [decision.type]
    for name in names:
        if name in mapping:
            return True, mapping[name]
    return False, None


def substitute(template: Any, decision: Decision) -> Any:
    """Fill a settings template with the reviewer's inputs."""
    values = dict(decision.parameters or {})
    notes = decision.message or ""
    context: dict[str, Any] = {
        "by": decision.by,
        "reason": decision.reason or "",
        "notes": notes,
        "message": notes,
        "text": decision.text if decision.text is not None else notes,
        "values": values,
    }

    def lookup(key: str) -> Any:
        if key.startswith("values."):
            return values.get(key.removeprefix("values."), "")
        return context.get(key, "{" + key + "}")

    if isinstance(template, str):
        whole = _PLACEHOLDER.fullmatch(template)
        if whole:
            return lookup(whole.group(1))
        return _PLACEHOLDER.sub(lambda m: str(lookup(m.group(1))), template)
    if isinstance(template, Mapping):
        return {k: substitute(v, decision) for k, v in template.items()}
    if isinstance(template, list):
        return [substitute(v, decision) for v in template]
    return template


def load_graph_settings(policy_file: str | None) -> dict[str, GraphSettings]:
    """Settings by graph name, from the ``graphs`` section of the policy file."""
    return settings_from(read_policy_file(policy_file), policy_file)


def settings_from(data: Mapping[str, Any], policy_file: str | None) -> dict[str, GraphSettings]:
    """Settings by graph name, from the file as :func:`read_policy_file` read it."""
    entries = data.get("graphs") or {}
    if not isinstance(entries, Mapping):
        raise ConfigError(f"POLICY_FILE: {policy_file}: graphs must be a mapping")
    return {
        str(name): parse_settings(body or {}, f"{policy_file}: graphs.{name}")
        for name, body in entries.items()
    }
