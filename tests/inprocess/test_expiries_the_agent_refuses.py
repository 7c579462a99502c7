"""An expiry the graph's own code refuses. The deadline passed, the policy's default answer was
handed to the graph, and the node raised on it: nothing ran. The request is not left open with
no deadline (nobody reminded, nothing to close it, waiting forever): an approval on expiry the
graph refused reopens the request with its policy's timeline from then (reminded, escalated, a
new deadline), and that deadline rejects; a rejection on expiry the graph refused stops the run
there, saying why, as nothing a deadline can send would be taken. Nothing loops."""

from __future__ import annotations

import json

import pytest

from tests.support.cards import blocks_text, current, has_buttons, wait_card
from tests.support.graph_files import ONE_STEP, STATE, graph_bot

REQ = "U0REQ"
HOUR = 3600

# Every answer the node is handed is written to SEEN (its type, and "expired" when a deadline
# gave it); an answer a deadline gave whose type is in REFUSED is refused.
DEPLOY = (
    """
import json
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

SEEN = Path({seen!r})
REFUSED = {refused!r}
"""
    + STATE
    + """

def ask(state: S) -> dict:
    answer = interrupt({{"service": state["request"]}})
    with SEEN.open("a") as seen:
        seen.write(json.dumps([answer["type"], bool(answer.get("expired"))]) + "\\n")
    if answer.get("expired") and answer["type"] in REFUSED:
        raise ValueError(f"a deadline cannot {{answer['type']}} a deploy <!here>")
    return {{"result": f"deploy {{answer['type']}}"}}
"""
    + ONE_STEP
)


def _bot(bot_in_process, tmp_path, refused: tuple[str, ...], expire_as: str):
    source = DEPLOY.format(seen=str(tmp_path / "seen"), refused=list(refused))
    policy = f"graphs:\n  deploy: {{remind_after: 20m, expire_after: 1h, expire_as: {expire_as}}}\n"
    return graph_bot(bot_in_process, tmp_path, source, {"deploy": "build"}, policy)


def _seen(tmp_path) -> list[list]:
    seen = tmp_path / "seen"
    return [json.loads(line) for line in seen.read_text().split("\n") if line]


def _status(bot) -> tuple[str, str]:
    run = bot.deps.db.fetch_one("SELECT status FROM runs")
    request = bot.deps.db.fetch_one("SELECT status FROM approvals")
    return run["status"], request["status"]


def _reminders(fake_slack, card) -> int:
    return sum(
        c.params.get("thread_ts") == card.ts and ":alarm_clock:" in c.params["text"]
        for c in fake_slack.calls("chat.postMessage")
    )


def _posted(fake_slack) -> str:
    return "\n".join(c.params["text"] for c in fake_slack.calls("chat.postMessage"))


def test_an_approval_on_expiry_the_graph_refuses_reopens_the_request_with_a_deadline_that_rejects(
    bot_in_process, fake_slack, tmp_path
):
    bot = _bot(bot_in_process, tmp_path, ("approve",), "approve")
    bot.command("deploy api", user=REQ)
    card = wait_card(fake_slack)
    assert "approved if nobody decides" in blocks_text(current(fake_slack, card)["blocks"])
    bot.tick_until(lambda: (tmp_path / "seen").exists(), "expire it", advance=600)
    bot.settle()
    assert _seen(tmp_path) == [["approve", True]]
    assert _status(bot) == ("waiting", "pending")

    # Open again, and with a deadline again: the policy's timeline from now, ending in reject.
    shown = blocks_text(current(fake_slack, card)["blocks"])
    assert has_buttons(current(fake_slack, card))
    assert "The agent refused the last answer: a deadline cannot approve a deploy" in shown
    assert "rejected if nobody decides" in shown and "approved if nobody decides" not in shown
    line = fake_slack.wait_for("chat.postMessage", lambda c: "refused" in c.params["text"])[0]
    assert "now expires as rejected" in line.params["text"]

    # Reminded again, once the policy's 20 minutes have passed since.
    reminded = _reminders(fake_slack, card)
    bot.tick(advance=21 * 60)
    bot.settle()
    assert _reminders(fake_slack, card) == reminded + 1

    # The new deadline rejects it, which the graph takes: the run ends, nothing approved.
    bot.tick_until(lambda: _status(bot)[0] == "done", "expire it again", advance=600)
    assert _status(bot) == ("done", "expired")
    assert _seen(tmp_path) == [["approve", True], ["reject", True]]
    fake_slack.wait_for("chat.postMessage", lambda c: c.params["text"] == "deploy reject")
    assert not has_buttons(current(fake_slack, card))
    bot.tick(advance=2 * HOUR)
    bot.settle()
    assert len(_seen(tmp_path)) == 2


@pytest.mark.parametrize("expire_as", ["approve", "reject"])
def test_a_rejection_on_expiry_the_graph_refuses_stops_the_run_saying_why(
    bot_in_process, fake_slack, tmp_path, expire_as
):
    bot = _bot(bot_in_process, tmp_path, ("approve", "reject"), expire_as)
    bot.command("deploy api", user=REQ)
    card = wait_card(fake_slack)
    bot.tick_until(lambda: _status(bot)[0] in ("done", "stopped"), "end it", advance=600)
    # An approval on expiry refused first reopens it (as above); the rejection ends it.
    expected = [["approve", True]] if expire_as == "approve" else []
    assert _seen(tmp_path) == [*expected, ["reject", True]]
    assert _status(bot) == ("done", "expired")
    assert not has_buttons(current(fake_slack, card))
    [stopped] = fake_slack.wait_for(
        "chat.postMessage", lambda c: "refused the rejection" in c.params["text"]
    )
    text = stopped.params["text"]
    assert "a deadline cannot reject a deploy" in text and "<!here>" not in text
    assert "The run did not continue" in text
    assert "hit an error" not in _posted(fake_slack)  # not a failure to retry: nothing ran
    refused = bot.deps.db.fetch_all("SELECT * FROM audit WHERE event = 'refused_by_agent'")
    assert len(refused) == len(expected) + 1

    # Nothing loops: later ticks hand the graph nothing more.
    bot.tick(advance=3 * HOUR)
    bot.settle()
    bot.tick(advance=3 * HOUR)
    bot.settle()
    assert len(_seen(tmp_path)) == len(expected) + 1
    assert _status(bot) == ("done", "expired")
