"""LangChain ``HumanInTheLoopMiddleware(interrupt_mode="per_call")``: one ``tool_approval``
interrupt per gated call, with a ``response_schema`` naming the decisions allowed; answered by
interrupt id with a single decision, which LangGraph checks against that schema. The approved
tool then runs in the task that asked, right after the answer
(:func:`bot.agents.acted.may_have_run`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.agents.adapters import hitl
from bot.agents.adapters.common import calls_text
from bot.domain import shapes
from bot.domain.models import Decision
from bot.domain.review import Pending, Resume, Review


def matches(pending: Pending) -> bool:
    return shapes.tool_approval(pending.value) is not None


def allowed(schema: Any) -> list[str]:
    """Decision types the response schema accepts (a union, or a single decision object)."""
    if not isinstance(schema, Mapping):
        return list(hitl.ALLOWED)
    defs = schema.get("$defs") or {}
    branches = schema.get("oneOf") or schema.get("anyOf") or [schema]
    kinds = []
    for branch in branches:
        ref = branch.get("$ref", "") if isinstance(branch, Mapping) else ""
        body = defs.get(ref.removeprefix("#/$defs/"), {}) if ref else branch
        kind = ((body.get("properties") or {}).get("type") or {}) if isinstance(body, dict) else {}
        const = kind.get("const") or (kind.get("enum") or [None])[0]
        if isinstance(const, str):
            kinds.append(const)
    return kinds or list(hitl.ALLOWED)


def edit_args_schema(schema: Any) -> dict[str, Any] | None:
    """The tool's argument schema, as the response schema's edit branch carries it."""
    if not isinstance(schema, Mapping):
        return None
    defs = schema.get("$defs") or {}

    def resolved(node: Any) -> Mapping[str, Any]:
        ref = node.get("$ref", "") if isinstance(node, Mapping) else ""
        node = defs.get(ref.removeprefix("#/$defs/")) if ref else node
        return node if isinstance(node, Mapping) else {}

    # Follow the edit branch itself: the tool's own models may also have name/args fields.
    for branch in schema.get("oneOf") or schema.get("anyOf") or [schema]:
        props = resolved(branch).get("properties") or {}
        if resolved(props.get("type")).get("const") != "edit":
            continue
        action = resolved(props.get("edited_action")).get("properties") or {}
        args = resolved(action.get("args"))
        return {**args, "$defs": defs} if args else None
    return None


def describe(pending: Pending, context: Any) -> Review:
    value = pending.value
    name = str(value.get("name", "tool"))
    tools = getattr(context, "tools", {}) or {}
    schema = edit_args_schema(pending.response_schema) or tools.get(name)
    if schema is not None and not (schema.get("properties") or {}):
        schema = tools.get(name)
    proposal = hitl.proposal_for(
        name,
        value.get("args") or {},
        str(value.get("description") or ""),
        allowed(pending.response_schema),
        schema,
    )
    full = calls_text([(name, value.get("args") or {})])
    title = "🛠️ Tool call waiting for approval"
    return Review("per_call", title, (proposal,), summary="tool call", long_text=full)


def answer(pending: Pending, review: Review, decision: Decision) -> Resume:
    value = pending.value
    item = (decision.items or [hitl.item_of(decision)])[0]
    name, args = str(value.get("name")), value.get("args") or {}
    [proposal] = review.proposals
    fields = hitl.form_names(proposal)
    return Resume(
        hitl.decision_for(name, args, item, decision, allowed(pending.response_schema), fields)
    )
