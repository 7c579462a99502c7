"""LangChain v1 ``HumanInTheLoopMiddleware``, batched mode: one interrupt holding every gated
tool call of a model turn, ``{"action_requests": [...], "review_configs": [...]}``, resumed with
``{"decisions": [...]}`` in request order."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from bot.agents.adapters.common import calls_text, details, expiry_message
from bot.agents.forms import edited_args, fields_from_schema
from bot.domain import shapes
from bot.domain.models import Decision
from bot.domain.review import Pending, Proposal, Resume, Review

ALLOWED = ("approve", "edit", "respond", "reject")


def matches(pending: Pending) -> bool:
    return shapes.hitl_requests(pending.value) is not None


def reviewer_text(description: str, name: str) -> str:
    """The middleware's description without the arguments it appends (the card lists them)."""
    return description.split(f"\n\nTool: {name}\nArgs:", 1)[0]


def proposal_for(
    name: str, args: Mapping[str, Any], description: str, allowed: list[str], tool_schema: Any
) -> Proposal:
    choices = tuple(c for c in ALLOWED if c in allowed) or ("approve", "reject")
    form = fields_from_schema(tool_schema, args) if "edit" in choices else ()
    return Proposal(
        title=name,
        description=reviewer_text(description, name),
        details=details(args),
        choices=choices,
        form=form,
    )


def describe(pending: Pending, context: Any) -> Review:
    configs = {
        str(c.get("action_name")): c for c in pending.value["review_configs"] if isinstance(c, dict)
    }
    tools = getattr(context, "tools", {}) or {}
    proposals = []
    for request in pending.value["action_requests"]:
        name = str(request.get("name", "tool"))
        config = configs.get(name, {})
        schema = config.get("args_schema") or tools.get(name)
        allowed = list(config.get("allowed_decisions") or ["approve", "edit", "reject"])
        proposals.append(
            proposal_for(
                name,
                request.get("args") or {},
                str(request.get("description") or ""),
                allowed,
                schema,
            )
        )
    count = len(proposals)
    title = "🛠️ Tool call waiting for approval" if count == 1 else f"🛠️ {count} tool calls to review"
    requests = pending.value["action_requests"]
    calls = [(str(r.get("name", "tool")), r.get("args") or {}) for r in requests]
    return Review("hitl", title, tuple(proposals), summary="tool call", long_text=calls_text(calls))


def decision_for(
    name: str,
    args: Mapping[str, Any],
    item: Mapping[str, Any],
    whole: Decision,
    allowed: Sequence[str] = ALLOWED,
    fields: Collection[str] = (),
) -> dict[str, Any]:
    """One middleware decision from one of the reviewer's item decisions. ``fields``: the
    names the call's edit form shows (:func:`bot.agents.forms.edited_args`)."""
    kind = str(item.get("type"))
    if whole.type == "expire":
        # The middleware refuses a decision type the tool does not allow, failing the run.
        if whole.expire_as == "approve" and "approve" in allowed:
            return {"type": "approve"}
        if "reject" not in allowed and "respond" in allowed:
            return {"type": "respond", "message": expiry_message(whole)}
        return {"type": "reject", "message": expiry_message(whole)}
    if kind == "approve":
        return {"type": "approve"}
    if kind == "edit":
        edited = edited_args(args, fields, item.get("values"))
        return {"type": "edit", "edited_action": {"name": name, "args": edited}}
    if kind == "respond":
        return {"type": "respond", "message": str(item.get("message") or "")}
    decision: dict[str, Any] = {"type": "reject"}
    if item.get("message"):
        decision["message"] = str(item["message"])
    return decision


def item_of(decision: Decision) -> dict[str, Any]:
    """The decision as it applies to a single proposal."""
    return {
        "type": decision.type,
        "values": decision.parameters,
        "message": decision.message if decision.type == "respond" else decision.reason,
    }


def answer(pending: Pending, review: Review, decision: Decision) -> Resume:
    requests = pending.value["action_requests"]
    configs = {
        str(c.get("action_name")): c for c in pending.value["review_configs"] if isinstance(c, dict)
    }
    items = decision.items or [item_of(decision)] * len(requests)
    decisions = [
        decision_for(
            str(r.get("name")),
            r.get("args") or {},
            item,
            decision,
            configs.get(str(r.get("name")), {}).get("allowed_decisions") or ALLOWED,
            form_names(proposal),
        )
        for r, item, proposal in zip(requests, items, review.proposals, strict=True)
    ]
    return Resume({"decisions": decisions})


def form_names(proposal: Proposal) -> frozenset[str]:
    return frozenset(field.name for field in proposal.form)
