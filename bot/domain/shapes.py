"""What an interrupt's value is: the calls it proposes and their arguments, by the standard
shapes. Two readings, on purpose:

- **As the card shows it** (:func:`calls`, and the predicates the adapters in
  :mod:`bot.agents.adapters` match with, tried in their order): a shape is taken only when the
  value has no keys that shape does not define, so a key a model added cannot make the card show
  a shape that hides the rest (the rest is then shown as a plain value, key by key).
- **As the rules govern it** (:func:`actions_named`): every name any shape's keys carry,
  however the value also reads, so the policy sections of all of them apply (strictest wins,
  :func:`bot.domain.signoff.combine`) and no remembered approval covers it when they differ.
  An added ``action_request`` naming a harmless action once made a ``send_email`` that needs
  two signers read as that action, approved by a rule made on it. A value that does not read
  as exactly the calls it names is its graph's section's too (:func:`governed_by`): added
  keys naming an action with laxer people once took a plain pause from its graph's approvers.

Pure functions on plain data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# The keys each standard shape defines (LangChain's HITLRequest and per-call
# ToolApprovalRequest, LangGraph's HumanInterrupt): a value with more is shown as a plain value.
HITL_KEYS = frozenset({"action_requests", "review_configs"})
TOOL_APPROVAL_KEYS = frozenset({"type", "tool_call_id", "name", "args", "description"})
INBOX_KEYS = frozenset({"action_request", "config", "description"})
# The bot's own action shape (graphs/action.py); its card shows any other keys too.
ACTION_KEYS = frozenset(
    {"kind", "action_type", "parameters", "fields", "choices", "risk_level", "description"}
)


def hitl_requests(value: Any) -> list[Any] | None:
    """LangChain HITL middleware, batched: the ``action_requests``."""
    if not isinstance(value, Mapping) or not set(value) <= HITL_KEYS:
        return None
    requests, configs = value.get("action_requests"), value.get("review_configs")
    # None asked (a hand-written value; the middleware never sends one): a plain value, whose
    # card has something to decide, not a batch of nothing (a card with no button at all).
    if not (isinstance(requests, list) and requests and isinstance(configs, list)):
        return None
    return requests


def tool_approval(value: Any) -> Mapping[str, Any] | None:
    """LangChain HITL middleware, per call: one ``tool_approval`` request."""
    if isinstance(value, Mapping) and value.get("type") == "tool_approval":
        return value if set(value) <= TOOL_APPROVAL_KEYS else None
    return None


def inbox_items(value: Any) -> list[Mapping[str, Any]] | None:
    """Agent Inbox: one ``HumanInterrupt`` or a list of them (each with its ``action_request``
    and its ``config``)."""
    items = [value] if isinstance(value, Mapping) else value
    if not isinstance(items, list) or not items:
        return None
    ok = all(
        isinstance(i, Mapping)
        and set(i) <= INBOX_KEYS
        and isinstance(i.get("action_request"), Mapping)
        and isinstance(i.get("config"), Mapping)
        for i in items
    )
    return items if ok else None


def action(value: Any) -> Mapping[str, Any] | None:
    """The bot's own action shape (``kind: action``, as graphs/action.py pauses)."""
    if not isinstance(value, Mapping) or value.get("kind") != "action":
        return None
    return value if isinstance(value.get("parameters") or {}, Mapping) else None


def calls(value: Any) -> list[tuple[Any, Any]]:
    """The (name, arguments) of each call the value proposes; [] for a pause that names none."""
    if (requests := hitl_requests(value)) is not None:
        return [(r.get("name"), r.get("args")) for r in requests if isinstance(r, Mapping)]
    if (request := tool_approval(value)) is not None:
        return [(request.get("name"), request.get("args"))]
    if (items := inbox_items(value)) is not None:
        return [(i["action_request"].get("action"), i["action_request"].get("args")) for i in items]
    if (proposed := action(value)) is not None:
        return [(proposed.get("action_type"), proposed.get("parameters"))]
    return []


def actions_named(value: Any) -> list[str]:
    """Every tool or action name the value's keys carry, in any standard shape, whatever else
    it holds, in order (a name twice for two calls of it: a batch is never one call)."""
    names: list[Any] = []
    for item in value if isinstance(value, list) else [value]:
        if not isinstance(item, Mapping):
            continue
        requests = item.get("action_requests")
        for request in requests if isinstance(requests, list) else []:
            names.append(request.get("name") if isinstance(request, Mapping) else None)
        if item.get("type") == "tool_approval":
            names.append(item.get("name"))
        if isinstance(item.get("action_request"), Mapping):
            names.append(item["action_request"].get("action"))
        if item.get("kind") == "action":
            names.append(item.get("action_type"))
    return [n for n in names if isinstance(n, str)]


def governed_by(value: Any) -> list[str]:
    """The names whose policy sections govern the value (:func:`actions_named`), and ``""``
    (its graph's own section) as well when the value does not read as exactly those calls: keys
    a model added to a plain pause's arguments name an action, but the pause is still its
    graph's, so the graph's people sign it too (and no remembered approval covers it)."""
    names = actions_named(value)
    exact = [name for name, _ in calls(value)] == names
    # The action shape takes other keys as well (and shows them): with any, it may be a plain
    # pause's arguments with ``kind: action`` added.
    exact = exact and (action(value) is None or set(value) <= ACTION_KEYS)
    return [*names, ""] if names and not exact else names


def arguments(value: Any) -> Mapping[str, Any]:
    """The arguments of the first call the value proposes; for a pause that names none, the
    value itself when it is a mapping."""
    proposed = calls(value)
    if proposed:
        args = proposed[0][1]
        return args if isinstance(args, Mapping) else {}
    return value if isinstance(value, Mapping) else {}
