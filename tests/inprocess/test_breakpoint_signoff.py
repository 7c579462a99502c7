"""An Approve at a static breakpoint (``interrupt_before``) answers the node's own
``interrupt()`` too (``ask_twice: false``) only where that pause needs the very sign-off the
breakpoint had. A node that then asks about an action whose policy section names other people,
or more of them, asks them on a card of its own: one approval of the breakpoint by someone the
action's section does not list must not send the email."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.slack.blocks import card as ids
from tests.support.cards import wait_card, wait_cards
from tests.support.graph_files import graph_bot

REQ, ALICE, BOB, CAROL = "U0REQ", "U0ALICE", "U0BOB", "U0CAROL"

GRAPH = """
import os
from typing import TypedDict

from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    request: str
    answer: dict


def gate(state):
    answer = interrupt({
        "kind": "action",
        "action_type": "send_email",
        "description": "Email all staff",
        "risk_level": "high",
        "parameters": {"to": "all-staff@example.com", "subject": "News", "body": "Hello"},
    })
    return {"answer": dict(answer)}


def execute(state):
    if state["answer"].get("type") in ("approve", "edit"):
        with open(os.environ["SENT_FILE"], "a") as sent:
            sent.write("sent\\n")
    return {}


def build(toolbox=None):
    graph = StateGraph(State)
    graph.add_node("gate", gate)
    graph.add_node("execute", execute)
    graph.add_edge(START, "gate")
    graph.add_edge("gate", "execute")
    graph.add_edge("execute", END)
    return graph.compile(checkpointer=MemorySaver(), interrupt_before=["gate"])
"""

SEPARATE = f"""
graphs:
  mailer:
    approvers: [{ALICE}]
actions:
  send_email:
    approvers: [{BOB}, {CAROL}]
    quorum: 2
"""
SAME = f"""
graphs:
  mailer:
    approvers: [{ALICE}]
"""


def mailer(bot_in_process, tmp_path: Path, monkeypatch, policy: str):
    sent = tmp_path / "sent.txt"
    monkeypatch.setenv("SENT_FILE", str(sent))
    bot = graph_bot(
        bot_in_process, tmp_path, GRAPH, {"mailer": "build"}, policy, REMIND_AFTER="off"
    )
    return bot, sent


def test_a_breakpoint_approval_does_not_sign_an_action_others_must_approve(
    bot_in_process, fake_slack, tmp_path, monkeypatch
):
    bot, sent = mailer(bot_in_process, tmp_path, monkeypatch, SEPARATE)
    bot.command("mailer We are closing the office", user=REQ)
    paused = wait_card(fake_slack)
    assert "Paused before gate" in paused.text
    bot.click(ids.APPROVE, paused.approval_id, ALICE)  # hers to approve: the graph's section
    bot.settle()
    [_, asked] = wait_cards(fake_slack, 2)
    assert "send_email" in asked.text  # the email asks its own people
    assert not sent.exists()
    bot.click(ids.APPROVE, asked.approval_id, BOB)
    bot.settle()
    assert not sent.exists()  # one of the two it needs
    bot.click(ids.APPROVE, asked.approval_id, CAROL)
    bot.settle()
    assert sent.read_text() == "sent\n"


def test_a_breakpoint_approval_answers_a_pause_with_the_same_sign_off(
    bot_in_process, fake_slack, tmp_path, monkeypatch
):
    bot, sent = mailer(bot_in_process, tmp_path, monkeypatch, SAME)
    bot.command("mailer We are closing the office", user=REQ)
    paused = wait_card(fake_slack)
    bot.click(ids.APPROVE, paused.approval_id, ALICE)
    bot.settle()
    assert sent.read_text() == "sent\n"  # nobody asked twice
    assert len([c for c in fake_slack.calls("chat.postMessage") if c.params.get("blocks")]) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_expiry_approving_a_breakpoint_does_not_answer_the_node_s_pause(
    bot_in_process, fake_slack, tmp_path, monkeypatch
):
    policy = SAME + "    expire_after: 1h\n    expire_as: approve\n"
    bot, sent = mailer(bot_in_process, tmp_path, monkeypatch, policy)
    bot.command("mailer We are closing the office", user=REQ)
    wait_card(fake_slack)
    bot.tick_until(lambda: len(wait_cards(fake_slack, 1)) > 1, "the pause's card", 3601)
    [_, asked] = wait_cards(fake_slack, 2)
    assert "send_email" in asked.text  # the pause asks a person
    assert not sent.exists()


TOOLS_GRAPH = """
import os

from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode


@tool
def send_email(to: str, subject: str, body: str) -> str:
    '''Send an email.'''
    with open(os.environ["SENT_FILE"], "a") as sent:
        sent.write(f"{to}\\n")
    return "sent"


def model(state):
    call = {"name": "send_email", "id": "c1", "type": "tool_call",
            "args": {"to": "all-staff@example.com", "subject": "News", "body": "Hello"}}
    return {"messages": [AIMessage(content="", tool_calls=[call])]}


def build(toolbox=None):
    graph = StateGraph(MessagesState)
    graph.add_node("model", model)
    graph.add_node("tools", ToolNode([send_email]))
    graph.add_edge(START, "model")
    graph.add_edge("model", "tools")
    graph.add_edge("tools", END)
    return graph.compile(checkpointer=MemorySaver(), interrupt_before=["tools"])
"""
ACTION_GRAPH = str(Path(__file__).resolve().parents[2] / "graphs" / "action.py") + ":build"
TOOLS_POLICY = f"""
graphs:
  outbox:
    approvers: [{ALICE}]
actions:
  send_email:
    approvers: [{BOB}, {CAROL}]
    quorum: 2
"""


def test_a_breakpoint_before_the_tools_needs_the_sign_off_of_the_calls_it_shows(
    bot_in_process, fake_slack, tmp_path, monkeypatch
):
    # send_email's section (another graph gates it) names Bob and Carol, two of them. Here a
    # ToolNode runs it after a breakpoint whose card shows the call: Alice, the graph's own
    # approver, approving that card alone must not send it; her graph's people sign it too.
    sent = tmp_path / "sent.txt"
    monkeypatch.setenv("SENT_FILE", str(sent))
    graphs = {"outbox": "build", "action": ACTION_GRAPH}
    bot = graph_bot(bot_in_process, tmp_path, TOOLS_GRAPH, graphs, TOOLS_POLICY, REMIND_AFTER="off")
    bot.command("outbox Tell everyone the office is closed", user=REQ)
    paused = wait_card(fake_slack)
    assert "Paused before tools" in paused.text and "send_email" in paused.text
    bot.click(ids.APPROVE, paused.approval_id, ALICE)
    bot.settle()
    assert not sent.exists()
    for approver in (BOB, CAROL):
        bot.click(ids.APPROVE, paused.approval_id, approver)
        bot.settle()
    assert not sent.exists()  # send_email's people signed: the graph's own stage is left
    bot.click(ids.APPROVE, paused.approval_id, ALICE)
    bot.settle()
    assert sent.read_text() == "all-staff@example.com\n"
