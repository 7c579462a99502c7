"""Remembered approvals of pauses that are not tool calls, with the bot in this process on both
databases. Agent Inbox requests (a list of ``HumanInterrupt``): a rule covers the action the card
named, with the values ``remember_match`` names, and an inbox action's own policy section governs
it as any call's does (a rule made on ``read_calendar`` once approved ``drop_database``, and a
``send_email`` that needs two signers, without a card). Plain pauses: a rule covers the step
(node) that paused, not every plain pause of the graph."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.slack.blocks import card as ids
from tests.support import slack_requests as sr
from tests.support.cards import blocks_text, current, wait_cards
from tests.support.graph_files import STATE, graph_bot

REQ, BOB, ANN = "U0REQ", "U0BOB", "U0ANN"
HOUR = 3600

GRAPH = (
    """
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
"""
    + STATE
    + """

def _ask(state: S) -> dict:
    action, _, target = state["request"].partition(" ")
    request = {
        "action_request": {"action": action, "args": {"target": target}},
        "config": {"allow_accept": True, "allow_edit": False,
                   "allow_respond": False, "allow_ignore": True},
        "description": f"Run {action}?",
    }
    [response] = interrupt([request])
    return {"result": f"{action} {target}: {response['type']}"}


def inbox():
    g = StateGraph(S)
    g.add_node("ask", _ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g
"""
)

POLICY = """
graphs:
  rt_inbox:
    remember: 1h
"""


@pytest.fixture
def inbox_bot(bot_in_process, tmp_path: Path):
    return start_inbox_bot(bot_in_process, tmp_path, POLICY)


def start_inbox_bot(bot_in_process, tmp_path: Path, policy: str, extra: dict | None = None):
    graphs = {"rt_inbox": "inbox", **(extra or {})}
    return graph_bot(bot_in_process, tmp_path, GRAPH, graphs, policy, f"{BOB},{ANN}")


def remember(bot, card, user: str, seconds: int = HOUR):
    blocks = current(bot.slack, card)["blocks"]
    value = sr.menu_value(blocks, card.approval_id, ids.REMEMBER, seconds)
    assert value is not None, blocks_text(blocks)
    body = sr.select_body(
        ids.REMEMBER, card.approval_id, user, value, card.channel, card.ts, blocks
    )
    return bot.send(body)


def test_an_inbox_rule_does_not_approve_another_action(inbox_bot, fake_slack):
    bot = inbox_bot
    assert bot.command("rt_inbox read_calendar alice").status_code == 200
    [first] = wait_cards(fake_slack, 1)
    assert "read_calendar" in first.text
    assert remember(bot, first, BOB).status_code == 200
    bot.settle()

    # A different action (and target) in the same graph: Bob never saw it.
    assert bot.command("rt_inbox drop_database production").status_code == 200
    bot.settle()
    rows = bot.deps.db.fetch_all("SELECT * FROM approvals ORDER BY created_at")
    second = rows[-1]
    assert len(rows) == 2
    assert second["status"] == "pending", (second["status"], second["decision"])


MATCHED = """
graphs:
  rt_inbox:
    remember: 1h
    remember_match: [target]  # only calls with the same target
"""


def test_remember_match_holds_for_inbox_requests(bot_in_process, tmp_path, fake_slack):
    bot = start_inbox_bot(bot_in_process, tmp_path, MATCHED)
    assert bot.command("rt_inbox close_ticket 9").status_code == 200
    [first] = wait_cards(fake_slack, 1)
    assert remember(bot, first, BOB).status_code == 200
    bot.settle()
    made = bot.deps.db.fetch_one("SELECT * FROM rules WHERE id = 1")
    assert json.loads(made["match"]) == {"target": "9"}, made["match"]

    assert bot.command("rt_inbox close_ticket 10").status_code == 200
    bot.settle()
    second = bot.deps.db.fetch_all("SELECT * FROM approvals ORDER BY created_at")[-1]
    assert second["status"] == "pending", (second["status"], second["decision"])


TWO_SIGNERS = """
graphs:
  rt_inbox:
    remember: 1h
actions:
  send_email:                 # any send_email needs two people, and is never remembered
    approvers: [U0BOB, U0ANN]
    quorum: 2
"""


def test_a_rule_does_not_approve_an_inbox_call_whose_action_needs_two_signers(
    bot_in_process, tmp_path, fake_slack
):
    action_graph = Path(__file__).resolve().parents[2] / "graphs" / "action.py"
    bot = start_inbox_bot(
        bot_in_process, tmp_path, TWO_SIGNERS, extra={"action": f"{action_graph}:build"}
    )
    assert bot.command("rt_inbox read_calendar alice").status_code == 200
    [first] = wait_cards(fake_slack, 1)
    assert remember(bot, first, BOB).status_code == 200
    bot.settle()

    # The same graph asks to send an email: the policy says two of Bob and Ann must approve.
    assert bot.command("rt_inbox send_email cfo@example.com").status_code == 200
    bot.settle()
    second = bot.deps.db.fetch_all("SELECT * FROM approvals ORDER BY created_at")[-1]
    assert second["status"] == "pending", (second["status"], second["decision"])


TWO_STEPS = (
    """
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
"""
    + STATE
    + """

def check(state: S) -> dict:
    interrupt(f"Read the logs of {state['request']}?")
    return {}


def finalize(state: S) -> dict:
    interrupt(f"Delete {state['request']} for good?")
    return {"result": "deleted"}


def build():
    g = StateGraph(S)
    g.add_node("check", check)
    g.add_node("finalize", finalize)
    g.add_edge(START, "check")
    g.add_edge("check", "finalize")
    g.add_edge("finalize", END)
    return g
"""
)


def test_a_rule_on_a_plain_pause_covers_its_step_not_the_graph_s_next_one(
    bot_in_process, tmp_path, fake_slack
):
    policy = "graphs:\n  two_steps:\n    remember: 1h\n"
    bot = graph_bot(bot_in_process, tmp_path, TWO_STEPS, {"two_steps": "build"}, policy, BOB)
    assert bot.command("two_steps prod-db").status_code == 200
    [first] = wait_cards(fake_slack, 1)
    assert "Read the logs" in first.text
    assert remember(bot, first, BOB).status_code == 200
    bot.settle()
    [_, second] = wait_cards(fake_slack, 2)  # the next step asks: its card is posted
    assert "Delete prod-db for good" in second.text
    rows = bot.deps.db.fetch_all("SELECT * FROM approvals ORDER BY created_at")
    assert [r["status"] for r in rows] == ["approved", "pending"]

    # The same step of a later run is what the rule covers: approved by it, no card.
    assert bot.command("two_steps staging-db").status_code == 200
    bot.settle()
    rows = bot.deps.db.fetch_all("SELECT * FROM approvals ORDER BY created_at")
    assert len(rows) == 4 and [r["status"] for r in rows[2:]] == ["approved", "pending"]
    assert json.loads(rows[2]["decision"])["via"] == "rule"


# A ``kind: action`` proposal of send_email into which the model slipped an Agent Inbox
# ``action_request`` naming read_calendar: governed as both (the strictest section), so a rule
# made on read_calendar does not cover it.
ACTION_GRAPH = Path(__file__).resolve().parents[2] / "graphs" / "action.py"

DISGUISED_GRAPH = (
    """
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
"""
    + STATE
    + """

def _ask(state: S) -> dict:
    action, _, target = state["request"].partition(" ")
    value = {"kind": "action", "action_type": action, "parameters": {"target": target},
             "risk_level": "high"}
    if action == "send_email":  # what a model slipped into its proposal
        value["action_request"] = {"action": "read_calendar", "args": {"target": target}}
    decision = interrupt(value)
    return {"result": f"{action} {target}: {decision}"}


def plain():
    g = StateGraph(S)
    g.add_node("ask", _ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g
"""
)

DISGUISED_POLICY = """
graphs:
  rt_plain:
    remember: 1h
actions:
  send_email:               # two people must sign any send_email
    approvers: [U0BOB, U0ANN]
    quorum: 2
"""


@pytest.fixture
def disguise_bot(bot_in_process, tmp_path: Path):
    graphs = {"rt_plain": "plain", "action": f"{ACTION_GRAPH}:build"}
    return graph_bot(
        bot_in_process, tmp_path, DISGUISED_GRAPH, graphs, DISGUISED_POLICY, f"{BOB},{ANN}"
    )


def test_a_read_calendar_rule_does_not_approve_a_disguised_send_email(disguise_bot, fake_slack):
    bot = disguise_bot
    assert bot.command("rt_plain read_calendar production").status_code == 200
    [first] = wait_cards(fake_slack, 1)
    assert remember(bot, first, BOB).status_code == 200
    bot.settle()

    assert bot.command("rt_plain send_email production").status_code == 200
    bot.settle()
    second = bot.deps.db.fetch_all("SELECT * FROM approvals ORDER BY created_at")[-1]
    # send_email needs Bob AND Ann: an added action_request naming read_calendar changes nothing.
    assert second["status"] == "pending", (second["status"], second["decision"])


BREAKPOINT_GRAPH = """
import os
from typing import TypedDict

from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph


class State(TypedDict, total=False):
    request: str
    messages: list


def agent(state):
    first = state["messages"][0]
    tool, _, arg = (first["content"] if isinstance(first, dict) else first.content).partition(" ")
    call = {"name": tool, "args": {"arg": arg}, "id": "c1"}
    return {"messages": [AIMessage("", tool_calls=[call])]}


def tools(state):
    [call] = state["messages"][-1].tool_calls
    with open(os.environ["RAN_FILE"], "a") as ran:
        ran.write(f"{call['name']} {call['args']['arg']}\\n")
    return {}


def build(toolbox=None):
    graph = StateGraph(State)
    graph.add_node("agent", agent)
    graph.add_node("tools", tools)
    graph.add_edge(START, "agent")
    graph.add_edge("agent", "tools")
    graph.add_edge("tools", END)
    return graph.compile(checkpointer=MemorySaver(), interrupt_before=["tools"])
"""


def test_a_static_breakpoint_offers_no_rule_for_whatever_its_step_runs_next(
    bot_in_process, tmp_path, fake_slack, monkeypatch
):
    """Its card shows the tool calls the next node runs: a rule on its step would approve a
    refund after a lookup. Each breakpoint asks."""
    ran = tmp_path / "ran.txt"
    monkeypatch.setenv("RAN_FILE", str(ran))
    policy = "graphs:\n  tooly:\n    remember: 1h\n"
    bot = graph_bot(bot_in_process, tmp_path, BREAKPOINT_GRAPH, {"tooly": "build"}, policy, BOB)
    assert bot.command("tooly lookup_order 42").status_code == 200
    [first] = wait_cards(fake_slack, 1)
    assert "lookup_order" in first.text
    assert (
        sr.menu_value(current(fake_slack, first)["blocks"], first.approval_id, ids.REMEMBER, HOUR)
        is None
    )
    bot.click(ids.APPROVE, first.approval_id, BOB)
    bot.settle()
    assert ran.read_text() == "lookup_order 42\n"
    assert bot.command("tooly issue_refund 10000").status_code == 200
    [_, second] = wait_cards(fake_slack, 2)
    assert "issue_refund" in second.text and "issue_refund" not in ran.read_text()
