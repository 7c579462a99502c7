"""Plain ``interrupt(value)``: a string question, any dict, and the bot's own ``kind`` payloads
(``draft``, ``action``; a draft with ``"rounds": n`` offers "Request changes", resumed with
``{"type": "revise", "message": notes}``). Resumed with the bot's documented dict unless
settings say otherwise: ``{"type": "approve"|"edit"|"reject"|"respond", "by", "text"?,
"parameters"?, "message"?, "reason"?}`` (an expiry adds ``"expired": true``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.agents.adapters.common import calls_text, details, long_text, shown
from bot.agents.forms import field_for_value
from bot.domain import shapes
from bot.domain.models import Decision
from bot.domain.review import Choice, FormField, Pending, Proposal, Resume, Review

CHOICES = ("approve", "edit", "reject")
DRAFT_KEYS = frozenset({"kind", "draft", "round", "rounds"})
ACTION_KEYS = shapes.ACTION_KEYS


def matches(pending: Pending) -> bool:
    return True


def describe(pending: Pending, context: Any) -> Review:
    value = pending.value
    if isinstance(value, Mapping) and value.get("kind") == "draft" and set(value) <= DRAFT_KEYS:
        return _draft(str(value.get("draft") or ""), value.get("rounds"))
    if (proposed := shapes.action(value)) is not None:
        return _action(proposed)
    if isinstance(value, Mapping):
        shown_values = {k: v for k, v in value.items()}
        form = tuple(field_for_value(str(k), v) for k, v in value.items())
        proposal = Proposal(
            title=_title(context), details=details(shown_values), choices=CHOICES, form=form
        )
        return Review("plain", _title(context), (proposal,), long_text=long_text(shown_values))
    question = shown(value) if value is not None else ""
    proposal = Proposal(
        title=_title(context), description=question, choices=("approve", "respond", "reject")
    )
    return Review("plain", _title(context), (proposal,), long_text=question or None)


def _title(context: Any) -> str:
    graph = getattr(context, "graph", "") or "agent"
    return f"Approval needed: {graph}"


def _draft(draft: str, rounds: Any) -> Review:
    form = (FormField("text", "Message to post", "multiline", True, draft),)
    proposal = Proposal(title="Draft", description=draft, choices=CHOICES, form=form)
    # A draft that says how many rounds it may take can be sent back with notes ("revise").
    revise = (
        (Choice("revise", "Request changes", ("notes",), rounds),)
        if isinstance(rounds, int) and not isinstance(rounds, bool) and rounds > 1
        else ()
    )
    return Review(
        "draft",
        "📝 Draft waiting for approval",
        (proposal,),
        extra=revise,
        summary="draft",
        long_text=draft,
    )


def _action(value: Mapping[str, Any]) -> Review:
    params = dict(value.get("parameters") or {})
    # Keys the action card has no place for are still what the graph holds: show them too.
    others = {str(k): v for k, v in value.items() if k not in ACTION_KEYS}
    specs = value.get("fields")
    if isinstance(specs, list):
        # A JSON parameter the call leaves out is text to come, like the action's others: what
        # the reviewer types is what runs, never a re-serialisation (bot.agents.forms._one).
        form = tuple(
            FormField(
                name=str(s["name"]),
                label=str(s.get("label") or s["name"]),
                kind=s.get("kind", "text"),
                required=bool(s.get("required", True)),
                initial=params.get(s["name"], "" if s.get("kind") == "json" else None),
            )
            for s in specs
            if isinstance(s, Mapping) and "name" in s
        )
    else:
        form = tuple(field_for_value(str(k), v) for k, v in params.items())
    # An action may narrow the buttons it offers (say, approve and reject only).
    wanted = value.get("choices")
    choices = tuple(c for c in CHOICES if c in wanted) if isinstance(wanted, list) else ()
    proposal = Proposal(
        title=str(value.get("action_type") or "action"),
        description=str(value.get("description") or ""),
        details=details(params) + details(others),
        choices=choices or CHOICES,
        form=form,
        risk=str(value.get("risk_level") or "high"),
    )
    full = calls_text([(proposal.title, {**params, **others})])
    title = "⚙️ Action waiting for approval"
    return Review("action", title, (proposal,), summary="action", long_text=full)


def answer(pending: Pending, review: Review, decision: Decision) -> Resume:
    return Resume(decision.resume_value())
