"""LangChain ``HumanInTheLoopMiddleware(interrupt_mode="per_call")``: one ``tool_approval``
interrupt per gated call, with a ``response_schema`` naming the decisions allowed; answered by
interrupt id with a single decision, which LangGraph checks against that schema. The approved
tool then runs in the task that asked, right after the answer (:func:`may_have_run`)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from langchain_core.tools import BaseTool

from bot.agents.adapters import hitl
from bot.agents.adapters.common import calls_text
from bot.domain import shapes
from bot.domain.models import Decision
from bot.domain.review import Pending, Resume, Review


def matches(pending: Pending) -> bool:
    return shapes.tool_approval(pending.value) is not None


# A tool's own run: whatever raises below one of these, the tool had begun to act.
TOOL_RUNS = frozenset({BaseTool.run.__code__, BaseTool.arun.__code__})


def may_have_run(value: Any, error: BaseException | None) -> bool:
    """Whether the call a task asked about (``value``) may have run before the task raised
    ``error`` on its answer: then the error is no refusal of the answer, whatever its type
    (``resp.json()``'s ValueError after the POST went out), and nothing may say that nothing
    ran. The gate asks outside the tool and runs it right after the answer, in the same task, so
    a tool's run in the error's traceback (or in one it was raised from) came after the answer;
    an error raised before it (LangGraph checking the decision against the schema) ran nothing.
    ``error`` None: no traceback to read (a LangGraph Server keeps an error's name only), so it
    may have. Any ``tool_approval`` value counts, even one with keys the card does not show."""
    if not (isinstance(value, Mapping) and value.get("type") == "tool_approval"):
        return False
    return error is None or any(_ran_a_tool(e.__traceback__) for e in _chain(error))


def _chain(error: BaseException | None) -> list[BaseException]:
    seen: list[BaseException] = []
    while error is not None and error not in seen:
        seen.append(error)
        error = error.__cause__ or error.__context__
    return seen


def _ran_a_tool(trace: TracebackType | None) -> bool:
    while trace is not None:
        if trace.tb_frame.f_code in TOOL_RUNS:
            return True
        trace = trace.tb_next
    return False


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
