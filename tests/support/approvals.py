"""Approval records built directly, for testing the pure Block Kit builders, and the sample
texts (ordinary, empty, huge, hostile) every builder must cope with."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from bot.agents import adapters
from bot.domain.models import STATUS_FOR, Approval, Decision
from bot.domain.review import Pending
from tests.fakes.openai_replies import filler
from tests.support.mrkdwn import HOSTILE

REQUESTER, BOSS = "U0REQ", "U0BOSS"
HUGE = 100_000

TEXTS = {
    "ordinary": "The VPN is down tonight from 22:00 to 23:00 UTC. Sorry for the trouble!",
    "empty": "",
    "huge": filler(HUGE),
    "hostile": HOSTILE,
    "hostile_huge": ((HOSTILE + "\n") * (HUGE // len(HOSTILE)))[:HUGE],
    "markup_huge": ("<&>" * HUGE)[:HUGE],  # every character expands when escaped
}


def make_approval(payload: Any, request: str = "Draft the VPN note", **pending: Any) -> Approval:
    """An approval for an interrupt whose value is ``payload``, described as the engine would."""
    waiting = Pending("int-1", payload, **pending)
    graph = str(payload.get("kind", "custom")) if isinstance(payload, dict) else "custom"
    return Approval(
        id="a1b2c3d4",
        thread_id="0123456789abcdef0123456789abcdef",
        interrupt_id="int-1",
        graph=graph,
        request=request,
        requester=REQUESTER,
        payload=adapters.payload_of(waiting),
        channel="C0REQ",
        ts="1700000000.000100",
        status="pending",
        created_at=1_700_000_000.0,
        review=adapters.describe(waiting, adapters.Context(graph)),
    )


def draft(text: str, request: str = "Draft the VPN note") -> Approval:
    return make_approval({"kind": "draft", "draft": text}, request)


EMAIL_FIELDS = [
    {"name": "to", "label": "To", "kind": "email", "required": True},
    {"name": "subject", "label": "Subject", "kind": "text", "required": True},
    {"name": "body", "label": "Body", "kind": "multiline", "required": True},
]


def action(description: str, parameters: dict[str, str]) -> Approval:
    payload = {
        "kind": "action",
        "action_type": "send_email",
        "description": description,
        "parameters": parameters,
        "risk_level": "medium",
        "fields": EMAIL_FIELDS,
    }
    return make_approval(payload, "email ops the status")


def decided(approval: Approval, kind: str, **details: Any) -> Approval:
    by = None if kind == "expire" else BOSS
    return replace(
        approval,
        status=STATUS_FOR[kind],
        decided_by=by,
        decided_at=1_700_000_600.0,
        decision=Decision(kind, by or "scheduler", **details),  # type: ignore[arg-type]
    )
