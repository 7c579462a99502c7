"""``distinct: true`` on an action's section, through the API: the person who signed the
action's request signs no other request of its run, the graph's own pause beside it included,
whichever door (a click, or an API token acting as them) they come through."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.cards import current, has_buttons, wait_cards
from tests.support.graph_files import graph_bot

REQ, ALICE, BOB, CAROL = "U0REQ", "U0ALICE", "U0BOB", "U0CAROL"
TOKEN = "alice-token-0123456789abcdef"
AS_ALICE = {"Authorization": f"Bearer {TOKEN}"}

# Two pauses at once: the graph's own question, and a send_email action beside it.
GRAPH = """
import os
from typing import Any, TypedDict

from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt


class State(TypedDict, total=False):
    request: str
    review: Any
    email: Any


def review(state):
    return {"review": interrupt({"text": "Close the office on Friday"})}


def gate(state):
    return {"email": interrupt({
        "kind": "action",
        "action_type": "send_email",
        "description": "Email all staff",
        "parameters": {"to": "all-staff@example.com", "subject": "Friday", "body": "Closed"},
    })}


def execute(state):
    with open(os.environ["SENT_FILE"], "a") as sent:
        sent.write("done\\n")
    return {}


def build(toolbox=None):
    graph = StateGraph(State)
    graph.add_node("review", review)
    graph.add_node("gate", gate)
    graph.add_node("execute", execute)
    graph.add_edge(START, "review")
    graph.add_edge(START, "gate")
    graph.add_edge(["review", "gate"], "execute")
    graph.add_edge("execute", END)
    return graph.compile(checkpointer=MemorySaver())
"""

POLICY = f"""
graphs:
  mailer:
    approvers: [{ALICE}, {BOB}]
actions:
  send_email:
    approvers: [{ALICE}, {CAROL}]
    distinct: true
"""


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_an_api_token_cannot_sign_the_run_s_other_request_after_a_distinct_action(
    bot_in_process, fake_slack, tmp_path: Path, monkeypatch
):
    sent = tmp_path / "sent.txt"
    monkeypatch.setenv("SENT_FILE", str(sent))
    bot = graph_bot(
        bot_in_process,
        tmp_path,
        GRAPH,
        {"mailer": "build"},
        POLICY,
        API_TOKENS=f"alice:{TOKEN}:{ALICE}",
        REMIND_AFTER="off",
    )
    fake_slack.set_members("C0REQ", [REQ, ALICE, BOB, CAROL])
    bot.command("mailer Tell everyone the office is closed", user=REQ, channel="C0REQ")
    cards = wait_cards(fake_slack, 2)
    [email] = [c for c in cards if "send_email" in c.text]
    [own] = [c for c in cards if c is not email]
    bot.settle()
    short = re.search(r"Run `([0-9a-f]+)`", email.text)
    assert short is not None, email.text
    path = f"/api/runs/{short.group(1)}/decision"

    signed = bot.http.post(
        path, json={"decision": "approve", "request": email.approval_id}, headers=AS_ALICE
    )
    assert signed.status_code == 200, signed.text

    refused = bot.http.post(
        path, json={"decision": "approve", "request": own.approval_id}, headers=AS_ALICE
    )

    assert refused.status_code == 409, refused.text
    assert refused.json() == {
        "decided": False,
        "request": own.approval_id,
        "error": "You already signed for this run, so someone else has to decide this "
        f"request: <@{ALICE}> or <@{BOB}>.",
    }
    assert has_buttons(current(fake_slack, own))
    bot.settle()
    assert not sent.exists()  # the run still waits on its own request
