"""Small graphs pausing in the other standard ways: a ``response_schema`` form, an Agent
Inbox request, and two parallel branches waiting at once."""

import operator
from typing import Annotated, TypedDict

from effects import record
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt
from pydantic import BaseModel, Field


class Ticket(TypedDict, total=False):
    request: str
    answers: Annotated[list[str], operator.add]
    result: str


class Refund(BaseModel):
    amount: float = Field(description="How much to refund")
    currency: str = Field(json_schema_extra={"enum": ["EUR", "USD"]})
    notify: bool
    note: str = ""


def _schema_node(state: Ticket) -> dict:
    refund = interrupt({"ticket": state["request"]}, response_schema=Refund)
    record("refund", refund.model_dump() if hasattr(refund, "model_dump") else refund)
    return {
        "result": f"Refunded {refund['amount']} {refund['currency']}"
        if isinstance(refund, dict)
        else f"Refunded {refund.amount} {refund.currency}"
    }


def schema_form():
    """Ask for a typed refund form."""
    g = StateGraph(Ticket)
    g.add_node("decide", _schema_node)
    g.add_edge(START, "decide")
    g.add_edge("decide", END)
    return g


def _inbox_node(state: Ticket) -> dict:
    request = {
        "action_request": {"action": "close_ticket", "args": {"ticket": state["request"]}},
        "config": {
            "allow_accept": True,
            "allow_edit": True,
            "allow_respond": True,
            "allow_ignore": True,
        },
        "description": "Close this ticket?",
    }
    [response] = interrupt([request])
    record("inbox", response)
    return {"result": f"inbox said {response['type']}"}


def inbox():
    """Agent Inbox style request."""
    g = StateGraph(Ticket)
    g.add_node("ask", _inbox_node)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g


def _fan_out(state: Ticket):
    return [Send("sign", {"request": f"{state['request']} / key {n}"}) for n in (1, 2)]


def _sign(state: Ticket) -> dict:
    answer = interrupt(f"Sign off: {state['request']}")
    return {"answers": [f"{state['request']}: {answer['type']}"]}


def _join(state: Ticket) -> dict:
    record("join", sorted(state["answers"]))
    return {"result": "; ".join(sorted(state["answers"]))}


def two_keys():
    """Two parallel sign-offs, each decided on its own."""
    g = StateGraph(Ticket)
    g.add_node("sign", _sign)
    g.add_node("join", _join)
    g.add_conditional_edges(START, _fan_out, ["sign"])
    g.add_edge("sign", "join")
    g.add_edge("join", END)
    return g
