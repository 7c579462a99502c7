"""Reading what a graph the bot did not write did (``tests/byo``): its recorded side effects,
its thread report, its forms and buttons, and what the model was told."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.cards import Card, approval_id_of


def ran(effects: Path, kind: str) -> list[Any]:
    if not effects.exists():
        return []
    lines = [json.loads(line) for line in effects.read_text().splitlines()]
    return [line["detail"] for line in lines if line["kind"] == kind]


def report(fake_slack, card: Card) -> str:
    """The run's report: a reply in the card's thread (a later round's card sits in the thread
    of the run's first card) that is not itself a card, nor an edit's before-and-after note."""
    root = fake_slack.message(card.channel, card.ts).get("thread_ts") or card.ts

    def reported(call) -> bool:
        blocks = call.params.get("blocks") or []
        note = str(call.params.get("text") or "").startswith("✏️")  # an edit's before/after
        return call.params.get("thread_ts") == root and approval_id_of(blocks) is None and not note

    [posted] = fake_slack.wait_for("chat.postMessage", reported)
    return posted.params["text"]


def opened_view(fake_slack, n: int = 1) -> dict[str, Any]:
    return fake_slack.wait_for("views.open", count=n)[n - 1].params["view"]


def inputs(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def buttons(message: dict[str, Any]) -> list[str]:
    for block in message["blocks"]:
        if block["type"] == "actions" and block["block_id"].startswith("decide:"):
            return [e["text"]["text"] for e in block["elements"]]
    return []


def tool_messages(fake_openai) -> list[dict[str, Any]]:
    last = fake_openai.requests[-1]["messages"]
    return [m for m in last if m.get("role") == "tool"]
