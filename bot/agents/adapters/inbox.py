"""Agent Inbox's ``HumanInterrupt`` list: ``[{action_request: {action, args}, config:
{allow_accept, allow_edit, allow_respond, allow_ignore}, description}]``, resumed with one
``HumanResponse`` per item: ``{"type": "accept"|"edit"|"response"|"ignore", "args": ...}``."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from bot.agents.adapters.common import calls_text, details, expiry_message
from bot.agents.forms import edited_args, fields_from_schema
from bot.domain import shapes
from bot.domain.models import Decision
from bot.domain.review import Pending, Proposal, Resume, Review

_FLAGS = (
    ("allow_accept", "approve"),
    ("allow_edit", "edit"),
    ("allow_respond", "respond"),
    ("allow_ignore", "ignore"),
)


def matches(pending: Pending) -> bool:
    return shapes.inbox_items(pending.value) is not None


def describe(pending: Pending, context: Any) -> Review:
    tools = getattr(context, "tools", {}) or {}
    proposals = []
    calls = []
    for item in shapes.inbox_items(pending.value) or []:
        request, config = item["action_request"], item["config"]
        name = str(request.get("action", "action"))
        args = request.get("args") or {}
        calls.append((name, args))
        choices = tuple(choice for flag, choice in _FLAGS if config.get(flag))
        form = fields_from_schema(tools.get(name), args) if "edit" in choices else ()
        proposals.append(
            Proposal(
                title=name,
                description=str(item.get("description") or ""),
                details=details(args),
                choices=choices or ("ignore",),
                form=form,
            )
        )
    title = "📥 Agent waiting for you"
    return Review("inbox", title, tuple(proposals), summary="request", long_text=calls_text(calls))


def _response(
    item: Mapping[str, Any], mine: Mapping[str, Any], whole: Decision, fields: Collection[str]
) -> dict:
    """The response to one request: ``fields``, the names its edit form shows."""
    config = item["config"]
    if whole.type == "expire":
        if whole.expire_as == "approve" and config.get("allow_accept"):
            return {"type": "accept", "args": None}
        if config.get("allow_respond"):
            return {"type": "response", "args": expiry_message(whole)}
        return {"type": "ignore", "args": None}
    kind = mine.get("type")
    if kind == "approve":
        return {"type": "accept", "args": None}
    if kind == "edit":
        request = item["action_request"]
        args = edited_args(request.get("args") or {}, fields, mine.get("values"))
        return {"type": "edit", "args": {"action": request.get("action"), "args": args}}
    if kind == "respond":
        return {"type": "response", "args": str(mine.get("message") or "")}
    return {"type": "ignore", "args": None}


def answer(pending: Pending, review: Review, decision: Decision) -> Resume:
    from bot.agents.adapters.hitl import item_of

    items = shapes.inbox_items(pending.value) or []
    mine = decision.items or [item_of(decision)] * len(items)
    names = [frozenset(f.name for f in proposal.form) for proposal in review.proposals]
    answered = zip(items, mine, names, strict=True)
    return Resume([_response(i, m, decision, fields) for i, m, fields in answered])
