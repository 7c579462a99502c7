"""An answer the graph's own schema refuses is said in the form, before the ack: not accepted,
claimed and then refused by LangGraph at the resume (five failed attempts, a run failed for good,
Retry sending the same refused answer, and nobody asked again). The form is generated from the
schema's types; its constraints (a minimum, a maximum) are the graph's, checked here too."""

from __future__ import annotations

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from tests.support.byo import opened_view
from tests.support.cards import wait_card
from tests.support.forms import by_name
from tests.support.graph_files import ONE_STEP, STATE, graph_bot

REQ = "U0REQ"

SEATS = (
    """
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field
"""
    + STATE
    + """

class Seats(BaseModel):
    count: int = Field(ge=1, le=10, description="How many seats (1-10)")


def ask(state: S) -> dict:
    seats = interrupt({"ticket": state["request"]}, response_schema=Seats)
    return {"result": f"booked {seats.count}"}
"""
    + ONE_STEP
)

REFUNDS = """
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from pydantic import BaseModel, Field


class RefundArgs(BaseModel):
    order: str
    amount: float = Field(gt=0, le=500, description="At most 500")


@tool(args_schema=RefundArgs)
def issue_refund(order: str, amount: float) -> str:
    \"\"\"Refund an order.\"\"\"
    return f"refunded {amount} on {order}"


def build():
    return create_agent(
        model=ChatOpenAI(model="gpt-4o-mini", timeout=10),
        tools=[issue_refund],
        middleware=[HumanInTheLoopMiddleware(
            interrupt_on={"issue_refund": {"allowed_decisions": ["approve", "edit", "reject"]}},
            interrupt_mode="per_call",
        )],
    )
"""


def _bot(bot_in_process, tmp_path, name: str, source: str, **env: str):
    return graph_bot(bot_in_process, tmp_path, source, {name: "build"}, "graphs: {}\n", **env)


def _status(bot) -> tuple[str, str]:
    run = bot.deps.db.fetch_one("SELECT status FROM runs")
    request = bot.deps.db.fetch_one("SELECT status FROM approvals")
    return run["status"], request["status"]


def test_an_answer_below_the_schema_s_minimum_is_refused_in_the_form(
    bot_in_process, fake_slack, tmp_path
):
    bot = _bot(bot_in_process, tmp_path, "seats", SEATS)
    bot.command("seats ticket 7", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.ANSWER, card.approval_id, REQ)
    opened_view(fake_slack)
    answered = bot.submit(modals.ANSWER, card.approval_id, REQ, by_name(("count",), {"count": "0"}))
    said = answered.json()
    assert said["response_action"] == "errors"
    assert list(said["errors"].values()) == ["0 is less than the minimum of 1"]
    bot.settle()
    assert _status(bot) == ("waiting", "pending")  # still to be answered
    bot.submit(modals.ANSWER, card.approval_id, REQ, by_name(("count",), {"count": "3"}))
    bot.settle()
    assert bot.deps.db.fetch_one("SELECT status FROM runs")["status"] == "done"


def test_a_per_call_edit_over_the_tool_s_maximum_is_refused_in_the_form(
    bot_in_process, fake_slack, fake_openai, tmp_path
):
    bot = _bot(bot_in_process, tmp_path, "refunds", REFUNDS)
    call = {"name": "issue_refund", "arguments": {"order": "A1", "amount": 20}}
    fake_openai.enqueue(tool_calls=[call])
    bot.command("refunds refund order A1", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.EDIT, card.approval_id, REQ)
    opened_view(fake_slack)
    edited = by_name(("order", "amount"), {"order": "A1", "amount": "900"})
    said = bot.submit(modals.EDIT, card.approval_id, REQ, edited).json()
    assert said["response_action"] == "errors"
    assert list(said["errors"].values()) == ["900.0 is greater than the maximum of 500"]
    bot.settle()
    assert _status(bot) == ("waiting", "pending")


def test_an_api_edit_over_the_tool_s_maximum_is_a_422_naming_the_field(
    bot_in_process, fake_slack, fake_openai, tmp_path
):
    token = "req-token-0123456789abcdef"
    bot = _bot(bot_in_process, tmp_path, "refunds", REFUNDS, API_TOKENS=f"req:{token}:{REQ}")
    call = {"name": "issue_refund", "arguments": {"order": "A1", "amount": 20}}
    fake_openai.enqueue(tool_calls=[call])
    bot.command("refunds refund order A1", user=REQ)
    card = wait_card(fake_slack)
    run = card.text.split("Run `")[1].split("`")[0]
    answer = bot.http.post(
        f"/api/runs/{run}/decision",
        json={"decision": "edit", "values": {"amount": 900}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "values.amount"
    bot.settle()
    assert _status(bot) == ("waiting", "pending")
