"""Read what the bot showed in (fake) Slack, as a user would see it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from tests.fakes.slack import Call, FakeSlack


@dataclass(frozen=True)
class Card:
    approval_id: str
    channel: str
    ts: str
    blocks: list[dict[str, Any]]

    @property
    def text(self) -> str:
        return blocks_text(self.blocks)


def blocks_text(blocks: list[dict[str, Any]]) -> str:
    """All visible text in a list of blocks, joined by newlines."""
    out: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") in ("mrkdwn", "plain_text") and "text" in node:
                out.append(str(node["text"]))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(blocks)
    return "\n".join(out)


def approval_id_of(blocks: list[dict[str, Any]]) -> str | None:
    for block in blocks:
        block_id = str(block.get("block_id", ""))
        if block.get("type") == "actions" and block_id.startswith("decide:"):
            return block_id.removeprefix("decide:")
    return None


def _is_card(call: Call) -> bool:
    return call.ok and approval_id_of(call.params.get("blocks") or []) is not None


def wait_cards(slack: FakeSlack, count: int = 1, timeout: float = 20) -> list[Card]:
    calls = slack.wait_for("chat.postMessage", _is_card, timeout=timeout, count=count)
    return [
        Card(
            approval_id_of(c.params["blocks"]) or "",
            str(c.response["channel"]),
            str(c.response["ts"]),
            c.params["blocks"],
        )
        for c in calls
        if c.response
    ]


def wait_card(slack: FakeSlack, timeout: float = 20) -> Card:
    return wait_cards(slack, 1, timeout)[0]


def current(slack: FakeSlack, card: Card) -> dict[str, Any]:
    """The card's message as it stands now (after any chat.update)."""
    return slack.message(card.channel, card.ts)


def has_buttons(message: dict[str, Any]) -> bool:
    return approval_id_of(message.get("blocks") or []) is not None


def wait_settled(slack: FakeSlack, card: Card, timeout: float = 15) -> str:
    """The card's text once it has lost its buttons (decided). That no second outcome follows
    is for the test to wait out on state (e.g. ``faults.wait_quiet``), not here."""
    deadline = time.monotonic() + timeout
    while has_buttons(current(slack, card)):
        assert time.monotonic() < deadline, f"card {card.approval_id} was never decided"
        time.sleep(0.05)
    return blocks_text(current(slack, card)["blocks"])


def shown(slack: FakeSlack, card: Card) -> str:
    """The card's text as Slack shows it now."""
    return blocks_text(current(slack, card)["blocks"])


def wait_shown(slack: FakeSlack, card: Card, text: str, timeout: float = 15.0) -> str:
    """The card's text once it shows ``text``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = shown(slack, card)
        if text in now:
            return now
        time.sleep(0.05)
    raise AssertionError(f"the card never showed {text!r}:\n{shown(slack, card)}")


def told(slack: FakeSlack, user: str, count: int = 1) -> list[str]:
    """The first ``count`` ephemeral notes ``user`` got."""
    notes = slack.wait_for("chat.postEphemeral", lambda c: c.params["user"] == user, count=count)
    return [n.params["text"] for n in notes]
