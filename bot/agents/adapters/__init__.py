"""What each kind of pause means, in one place.

Every adapter module answers three questions about a pending interrupt (or static breakpoint):
``matches`` (is it mine), ``describe`` (what the reviewer sees and may do, as a
:class:`~bot.domain.review.Review`), and ``answer`` (given the reviewer's decision, what goes
back to LangGraph: a resume value, a state update, or a stop). The engine asks :func:`describe` and
:func:`answer` and never looks inside a payload itself. A graph's settings may override what a
button means (``resume`` / ``update``); the adapters' defaults apply otherwise.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.agents.adapters import breakpoint, hitl, inbox, per_call, plain, schema
from bot.agents.adapters.common import shown
from bot.agents.forms import field_for_value
from bot.agents.graph_settings import GraphSettings, substitute, template_for
from bot.domain.models import Decision
from bot.domain.review import Answer, Pending, Resume, Review, Update

logger = logging.getLogger(__name__)

PLAIN_SHAPES = ("plain", "draft", "action")
ADAPTERS = (breakpoint, hitl, per_call, inbox, schema, plain)
# Which adapter described a review, by the shape it gave it: a decision is answered by that
# adapter without asking every adapter again whether the payload is its own.
BY_SHAPE = {
    "breakpoint": breakpoint,
    "hitl": hitl,
    "per_call": per_call,
    "inbox": inbox,
    "schema": schema,
    **{shape: plain for shape in PLAIN_SHAPES},
}


@dataclass(frozen=True)
class Context:
    """What an adapter may know beyond the payload: the graph's settings and tool schemas."""

    graph: str = ""
    settings: GraphSettings = field(default_factory=GraphSettings)
    tools: Mapping[str, dict[str, Any]] = field(default_factory=dict)


def adapter_for(pending: Pending):  # noqa: ANN201 - one of the adapter modules
    return next(a for a in ADAPTERS if a.matches(pending))


def governing(pending: Pending) -> Any:
    """The value the policy's sections govern the pause by (``SignOffs.for_request``): its
    own, or at a static breakpoint the calls its card shows the next node running."""
    return breakpoint.governing(pending) if breakpoint.matches(pending) else pending.value


def describe(pending: Pending, context: Context) -> Review:
    try:
        review = adapter_for(pending).describe(pending, context)
    except Exception:
        # A payload that looks like a known shape but is not (a list where a dict belongs):
        # show it as it is, approve or reject, rather than leave the run without a card.
        logger.exception("could not read a %s interrupt; showing it as is", context.graph)
        review = plain.describe(replace(pending, value=_readable(pending.value)), context)
    if context.settings.buttons:
        review = replace(review, extra=context.settings.buttons)
    path = context.settings.edit
    if path and pending.breakpoint is None and len(review.proposals) == 1:
        target = _at(pending.value, path)
        if isinstance(target, Mapping):
            # The settings name what Edit edits: one input per key of that part of the value.
            form = tuple(field_for_value(str(k), v) for k, v in target.items())
            review = replace(review, proposals=(replace(review.proposals[0], form=form),))
        else:
            review = _edit_refused(review, pending, context, target)
    mapped = set(context.settings.resume)
    if mapped and pending.breakpoint is None:
        # A graph whose settings say what its buttons send understands only those answers:
        # offer no button that would send it the bot's own dict instead.
        review = replace(
            review,
            proposals=tuple(
                replace(p, choices=tuple(c for c in p.choices if c in mapped) or p.choices)
                for p in review.proposals
            ),
        )
    return review


def _edit_refused(review: Review, pending: Pending, context: Context, target: Any) -> Review:
    """The settings' ``edit`` path names nothing here (a typo, or a pause of another shape).
    Editing the whole value instead would send the graph a value it does not expect, so the
    card offers no Edit and says why, and the log names the setting to fix."""
    path = context.settings.edit
    found = "nothing" if target is None else f"a {type(target).__name__}, not a set of fields,"
    keys = ", ".join(map(str, pending.value)) if isinstance(pending.value, Mapping) else "none"
    logger.error(
        "POLICY_FILE: graphs.%s.edit: %r names %s in this pause (node %s; its keys: %s); "
        "its card offers no Edit until the path is fixed",
        context.graph,
        path,
        found,
        pending.node or "?",
        keys,
    )
    proposal = review.proposals[0]
    if "edit" not in proposal.choices:
        return review
    note = ("Edit", f"not offered: the policy file's edit path ({path}) names {found} here")
    proposal = replace(
        proposal,
        choices=tuple(c for c in proposal.choices if c != "edit"),
        details=(*proposal.details, note),
    )
    return replace(review, proposals=(proposal,))


def _readable(value: Any) -> Any:
    """The value with no shape an adapter would mistake it for: shown as text."""
    return shown(value)


def _at(value: Any, path: str | None) -> Any:
    if not path:
        return None
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def answer(pending: Pending, review: Review, decision: Decision, context: Context) -> Answer:
    settings = context.settings
    if pending.breakpoint is not None:
        # Nothing waits for a value at a breakpoint: only ``update`` settings apply.
        found, template = template_for(settings.update, decision)
        if found:
            values = substitute(template, decision)
            return Update(dict(values) if values else None)
        return breakpoint.answer(pending, review, decision)
    found, template = template_for(settings.resume, decision)
    if found:
        return Resume(substitute(template, decision))
    # A payload described as is (see describe) is answered as is; a shape no adapter gave
    # (a review stored by another version) by whichever adapter claims the payload.
    adapter = BY_SHAPE.get(review.shape) or adapter_for(pending)
    return adapter.answer(pending, review, decision)


def payload_of(pending: Pending) -> dict[str, Any]:
    """How a pending pause is stored with its approval request."""
    return {
        "value": pending.value,
        "node": pending.node,
        "schema": pending.response_schema,
        "breakpoint": pending.breakpoint,
        "state": pending.state,
    }


def form_schema(payload: Mapping[str, Any], review: Review | None) -> Mapping[str, Any] | None:
    """The JSON Schema the graph checks a form's values against when it resumes, where it
    gives one: the answer to a ``response_schema`` interrupt, a per-call tool's arguments."""
    given = payload.get("schema")
    if review is None or not isinstance(given, Mapping):
        return None
    if review.shape == "schema":
        return given
    if review.shape == "per_call":
        return per_call.edit_args_schema(given)
    return None


def pending_of(interrupt_id: str, payload: Mapping[str, Any]) -> Pending:
    return Pending.recorded(interrupt_id, payload)


def permits(review: Review | None, decision: Decision) -> bool:
    """Whether the request's review offers this decision (a forged click gets no further)."""
    if decision.type == "expire" or review is None:
        return True
    if decision.type in {c.name for c in review.extra}:
        return True
    if decision.items is not None:
        return len(decision.items) == len(review.proposals) and all(
            str(item.get("type")) in proposal.choices
            for item, proposal in zip(decision.items, review.proposals, strict=True)
        )
    if len(review.proposals) == 1:
        return decision.type in review.proposals[0].choices
    if decision.type == "approve" and not review.approvable_at_once():
        return False  # a batch too long to read in full: each call is decided
    return decision.type in review.choices() and decision.type in ("approve", "reject")
