"""LangChain ``create_agent`` agents whose email tool is gated by ``HumanInTheLoopMiddleware``,
in batched and per-call mode."""

from effects import record
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email."""
    record("email", {"to": to, "subject": subject, "body": body})
    return f"sent to {to}"


def _agent(mode: str):
    return create_agent(
        model=ChatOpenAI(model="gpt-4o-mini", timeout=10),
        tools=[send_email],
        middleware=[
            HumanInTheLoopMiddleware(
                interrupt_on={"send_email": {"allowed_decisions": ["approve", "edit", "reject"]}},
                interrupt_mode=mode,
            )
        ],
    )


def batched():
    """An email agent that asks before sending (one review per model turn)."""
    return _agent("batched")


def per_call():
    """An email agent that asks before each email it sends."""
    return _agent("per_call")


def batched_all():
    """An email agent that asks before sending (one review per model turn); the reviewer may
    also answer in the tool's place."""
    return create_agent(
        model=ChatOpenAI(model="gpt-4o-mini", timeout=10),
        tools=[send_email],
        middleware=[
            HumanInTheLoopMiddleware(
                interrupt_on={
                    "send_email": {"allowed_decisions": ["approve", "edit", "reject", "respond"]}
                },
                interrupt_mode="batched",
            )
        ],
    )


@tool
def post(text: str) -> str:
    """Post a message."""
    record("post", text)
    return "posted"


def poster():
    """An agent whose one-argument tool is reviewed before it runs."""
    return create_agent(
        model=ChatOpenAI(model="gpt-4o-mini", timeout=10),
        tools=[post],
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"post": True})],
    )


@tool
def lookup_order(order: str) -> str:
    """Look an order up."""
    record("lookup", order)
    return f"order {order}: 25.00"


@tool
def issue_refund(order: str, amount: str) -> str:
    """Refund an order."""
    record("refund", {"order": order, "amount": amount})
    return f"refunded {amount} on {order}"


def refunds():
    """A support agent that looks orders up and refunds them, asking before either."""
    return create_agent(
        model=ChatOpenAI(model="gpt-4o-mini", timeout=10),
        tools=[lookup_order, issue_refund],
        middleware=[
            HumanInTheLoopMiddleware(
                interrupt_on={
                    "lookup_order": {"allowed_decisions": ["approve", "reject"]},
                    "issue_refund": {"allowed_decisions": ["approve", "edit", "reject"]},
                },
                interrupt_mode="batched",
            )
        ],
    )
