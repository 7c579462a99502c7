"""Static breakpoints (``interrupt_before`` / ``interrupt_after``): nothing was asked, the run
just stopped around a node. The card names the node and shows the state it will consume.

Approve continues (``invoke(None)``); Edit writes the edited state keys with ``update_state``
and continues; Reject ends the run with nothing executed. A graph's ``update`` settings
replace any of these with its own decision fields (the tutorials' ``update_state`` pattern).
"""

from __future__ import annotations

from typing import Any

from bot.agents.adapters.common import details, long_text
from bot.agents.forms import field_for_value
from bot.domain.models import Decision
from bot.domain.review import Answer, Pending, Proposal, Review, Stop, Update

_HIDDEN = ("messages",)


def matches(pending: Pending) -> bool:
    return pending.breakpoint is not None


def describe(pending: Pending, context: Any) -> Review:
    state = pending.state
    where = "before" if pending.breakpoint == "before" else "after"
    verb = "about to run" if where == "before" else "has just run"
    shown = {k: v for k, v in state.items() if k not in _HIDDEN}
    messages = state.get("messages")
    if isinstance(messages, list) and messages:
        shown["last message"] = getattr(messages[-1], "content", messages[-1])
        calls = tool_calls(state)
        if calls:  # what a ToolNode after this pause runs
            shown["tool calls"] = calls
    editable = [k for k, v in state.items() if isinstance(v, str) and k not in _HIDDEN]
    input_key = getattr(getattr(context, "settings", None), "input", None)
    form = tuple(field_for_value(k, state[k]) for k in editable if k != input_key)
    choices = ("approve", "edit", "reject") if form else ("approve", "reject")
    proposal = Proposal(
        title=f"`{pending.node}` {verb}",
        description=f"The run paused {where} `{pending.node}`. It continues only if you approve.",
        details=details(shown),
        choices=choices,
        form=form,
    )
    title = f"⏸️ Paused {where} {pending.node}"[:150]
    return Review("breakpoint", title, (proposal,), long_text=long_text(shown))


def tool_calls(state: dict[str, Any]) -> list[dict[str, Any]]:
    """The tool calls of the state's last message: what a ToolNode after the pause runs."""
    messages = state.get("messages")
    if not isinstance(messages, list) or not messages:
        return []
    last = messages[-1]
    # A message object in process; its JSON (a dict) from a LangGraph Server.
    calls = (last.get("tool_calls") if isinstance(last, dict) else None) or getattr(
        last, "tool_calls", None
    )
    if not isinstance(calls, list):
        return []
    return [{"name": c.get("name"), "args": c.get("args")} for c in calls if isinstance(c, dict)]


def governing(pending: Pending) -> Any:
    """What the policy's sections read of the pause: the calls its card shows, named as a
    batch's are (so each call's section signs it, with the graph's own: bot.domain.shapes.
    governed_by), or nothing (the graph's section alone) when it shows none."""
    calls = tool_calls(pending.state)
    return {"action_requests": calls} if calls else pending.value


def answer(pending: Pending, review: Review, decision: Decision) -> Answer:
    kind = decision.effective_type
    if kind == "approve":
        return Update(None)
    if kind == "edit":
        return Update(dict(decision.parameters or {}) or None)
    why = f": {decision.reason}" if decision.reason else ""
    who = "Expired" if decision.type == "expire" else "Rejected"
    where = "after" if pending.breakpoint == "after" else "before"
    return Stop(f"{who}{why}. The run stopped {where} `{pending.node}`; nothing more was run.")
