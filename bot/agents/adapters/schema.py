"""Any interrupt carrying a ``response_schema`` (LangGraph >= 1.2.12): the reviewer fills a form
generated from the JSON Schema, and the typed values are the resume value, checked before the
run resumes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.agents.adapters.common import details, long_text, shown
from bot.agents.forms import fields_from_schema
from bot.domain.models import Decision
from bot.domain.review import Answer, Pending, Proposal, Resume, Review, Stop


def matches(pending: Pending) -> bool:
    schema = pending.response_schema
    return isinstance(schema, Mapping) and bool(schema.get("properties"))


def describe(pending: Pending, context: Any) -> Review:
    value = pending.value
    shown_values = dict(value) if isinstance(value, Mapping) else {}
    proposal = Proposal(
        title=str((pending.response_schema or {}).get("title") or "Answer"),
        description="" if shown_values else shown(value),
        details=details(shown_values),
        choices=("answer",),
        form=fields_from_schema(pending.response_schema),
    )
    graph = getattr(context, "graph", "") or "agent"
    return Review(
        "schema", f"Input needed: {graph}", (proposal,), long_text=long_text(shown_values)
    )


def answer(pending: Pending, review: Review, decision: Decision) -> Answer:
    if decision.type == "expire":
        return Stop(f"Expired: {decision.reason or 'nobody answered'}. The run did not continue.")
    return Resume(dict(decision.parameters or {}))
