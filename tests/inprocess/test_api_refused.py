"""An answer the graph's own code refuses: through the API, the caller hears that the agent
refused it and that the request is open again, not that it was decided; and a crash just after
the request was reopened still ends with its card open again."""

from __future__ import annotations

from pathlib import Path

from bot.slack.blocks import card as ids
from tests.support.cards import current, has_buttons, wait_card
from tests.support.faults import killed_after
from tests.support.graph_files import ONE_STEP, STATE, graph_bot

REQ = "U0REQ"
TOKEN = "req-token-0123456789abcdef"

# The node refuses its first answer (it raises), then takes the next one.
PICKY = (
    """
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

ONCE = Path({once!r})
"""
    + STATE
    + """

def ask(state: S) -> dict:
    answer = interrupt({{"question": "Send it?", "request": state["request"]}})
    if not ONCE.exists():
        ONCE.touch()
        raise ValueError("not today")
    return {{"result": f"sent ({{answer!r:.20}})"}}
"""
    + ONE_STEP
)


def test_an_api_decision_the_graph_refuses_says_so_and_the_request_is_open_again(
    bot_in_process, fake_slack, tmp_path: Path
):
    source = PICKY.format(once=str(tmp_path / "once"))
    bot = graph_bot(
        bot_in_process,
        tmp_path,
        source,
        {"picky": "build"},
        "graphs: {}\n",
        API_TOKENS=f"req:{TOKEN}:{REQ}",
    )
    bot.command("picky ship it", user=REQ)
    card = wait_card(fake_slack)
    run = card.text.split("Run `")[1].split("`")[0]
    answer = bot.http.post(
        f"/api/runs/{run}/decision",
        json={"decision": "approve"},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    bot.settle()
    assert answer.status_code == 409, answer.text
    body = answer.json()
    assert body["decided"] is False and body["status"] == "pending"
    assert body["refused"] == "not today" and body["version"] == 2
    assert "The agent refused your answer: not today" in body["error"]
    assert "the request is open again" in body["error"]
    assert bot.deps.db.fetch_one("SELECT status FROM approvals")["status"] == "pending"
    assert has_buttons(current(fake_slack, card))

    # Open again indeed: the next decision is taken, and the run goes on with it.
    again = bot.http.post(
        f"/api/runs/{run}/decision",
        json={"decision": "approve", "version": body["version"]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert again.status_code == 200 and again.json()["decided"] is True, again.text
    bot.settle()
    assert bot.deps.db.fetch_one("SELECT status FROM runs")["status"] == "done"


def test_a_refusal_whose_reopening_committed_just_before_a_crash_shows_the_card_open_again(
    bot_in_process, fake_slack, tmp_path: Path, monkeypatch
):
    """The bot died as the request was reopened (the graph had refused the click's answer):
    the next bot shows its card with its buttons again, not the decided card."""
    source = PICKY.format(once=str(tmp_path / "once"))
    bot = graph_bot(bot_in_process, tmp_path, source, {"picky": "build"}, "graphs: {}\n")
    bot.command("picky ship it", user=REQ)
    card = wait_card(fake_slack)
    assert bot.deps is not None
    killed_after(monkeypatch, bot.deps.store, "reopen_refused")
    bot.click(ids.APPROVE, card.approval_id, REQ)
    bot.settle()  # the click's work died there (Killed, logged by the pool)
    assert bot.deps.db.fetch_one("SELECT status FROM approvals")["status"] == "pending"
    bot.stop()
    monkeypatch.undo()
    assert not has_buttons(current(fake_slack, card))  # the decided card, drawn before

    folder = tmp_path / "graphs_here"
    again = bot_in_process(
        LANGGRAPH_CONFIG=str(folder / "langgraph.json"), POLICY_FILE=str(folder / "policy.yaml")
    ).restarted()
    again.tick(advance=61)
    again.settle()
    assert again.deps is not None
    assert again.deps.db.fetch_one("SELECT status FROM approvals")["status"] == "pending"
    assert has_buttons(current(fake_slack, card))  # anyone who may decide it can, again
