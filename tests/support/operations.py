"""Helpers for the /agent subcommand and /metrics tests, in process and against a bot process."""

from __future__ import annotations

import re
import time

REQ = "U0REQ"


def ask(fake_slack, bot, text: str, user: str = REQ) -> str:
    """Type ``/agent <text>``: the ack is empty, the answer comes on the response_url."""
    before = len(fake_slack.calls("response_url"))
    ack = bot.command(text, user=user)
    assert ack.status_code == 200 and not ack.content, ack.content
    posted = fake_slack.wait_for("response_url", count=before + 1)[before]
    assert posted.params["response_type"] == "ephemeral"
    return posted.params["text"]


def settled_answer(fake_slack, bot, text: str, user: str, unless: str) -> str:
    """The answer once the bot has caught up (it records a card's ts just after posting it)."""
    deadline = time.monotonic() + 10
    while unless in (answer := ask(fake_slack, bot, text, user)):
        assert time.monotonic() < deadline, answer
        time.sleep(0.2)
    return answer


def run_id_of(fake_slack, card) -> str:
    match = re.search(r"Run `([0-9a-f]{8})`", card.text)
    assert match, card.text
    return match.group(1)


def metric(text: str, name: str) -> float:
    match = re.search(rf"^{re.escape(name)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def scrape_when(bot, name: str, value: float, timeout: float = 10) -> str:
    """The scrape once ``name`` reads ``value``: gauges read from the database are refreshed in
    the background (every second here), never at the scrape."""
    deadline = time.monotonic() + timeout
    while metric(text := bot.http.get("/metrics").text, name) != value:
        assert time.monotonic() < deadline, f"{name} never read {value}:\n{text}"
        time.sleep(0.1)
    return text
