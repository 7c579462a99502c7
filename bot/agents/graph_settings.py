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

The file is read and checked once, by :mod:`bot.policy`: unknown keys, ``resume``/``update``
entries for buttons that do not exist and ``edit`` paths with an empty key stop start-up
(:class:`bot.policy.model.GraphSection`), and :func:`bot.policy.derive.settings_from` makes these
settings from what passed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.domain.models import Decision
from bot.domain.review import Choice

_PLACEHOLDER = re.compile(r"\{([a-z_]+(?:\.[A-Za-z0-9_-]+)?)\}")


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
