"""Interrupt payloads as LangGraph and LangChain really produce them (checked against a real
``create_agent`` run with langchain 1.4.7), shared by the adapter tests."""

from __future__ import annotations

from typing import Any

from langchain.agents.middleware.human_in_the_loop import (
    HumanInTheLoopMiddleware,
    _decision_schema,
)
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool, tool
from pydantic import TypeAdapter

from bot.domain.review import Pending


@tool
def send_email(to: str, subject: str, body: str, cc: list[str] | None = None) -> str:
    """Send an email."""
    return f"sent to {to}"


SEND_EMAIL_SCHEMA = send_email.tool_call_schema.model_json_schema()
EMAIL = {"to": "a@b.co", "subject": "Hi", "body": "Hello"}
DESCRIPTION = "Tool execution requires approval\n\nTool: send_email\nArgs: {...}"


def hitl_value(*calls: tuple[str, dict[str, Any]], allowed: list[str] | None = None) -> dict:
    """A batched ``HumanInTheLoopMiddleware`` interrupt value for these (name, args) calls."""
    allowed = allowed if allowed is not None else ["approve", "edit", "reject"]
    return {
        "action_requests": [
            {"name": name, "args": args, "description": f"{DESCRIPTION} {name}"}
            for name, args in calls
        ],
        "review_configs": [
            {"action_name": name, "allowed_decisions": list(allowed)} for name, _ in calls
        ],
    }


def per_call_schema(
    allowed: list[str], name: str = "send_email", tool_: BaseTool | None = send_email
) -> dict[str, Any]:
    """The ``response_schema`` the middleware's per-call interrupt publishes (LangGraph calls
    ``TypeAdapter(schema).json_schema()`` on the type it is given)."""
    return TypeAdapter(_decision_schema(allowed, name, tool_)).json_schema()


def per_call_accepts(decision: Any, allowed: list[str], tool_: BaseTool | None = send_email):
    """Validate a resume value as LangGraph does before handing it to the middleware."""
    return TypeAdapter(_decision_schema(allowed, "send_email", tool_)).validate_python(decision)


def batched_accepts(decision: dict[str, Any], allowed: list[str]) -> ToolMessage | None:
    """Run one decision through the batched middleware's own check; raises if refused."""
    call = {"name": "send_email", "args": dict(EMAIL), "id": "call_1", "type": "tool_call"}
    config = {"allowed_decisions": allowed}
    _, message = HumanInTheLoopMiddleware._process_decision(decision, call, config)
    return message


def tool_approval(args: dict[str, Any] | None = None, name: str = "send_email") -> dict:
    return {
        "type": "tool_approval",
        "tool_call_id": "call_1",
        "name": name,
        "args": dict(args if args is not None else EMAIL),
        "description": DESCRIPTION,
    }


def per_call_pending(allowed: list[str], args: dict[str, Any] | None = None) -> Pending:
    return Pending("i-1", tool_approval(args), "tools", per_call_schema(allowed))


def inbox_item(
    action: str = "close_ticket",
    args: dict[str, Any] | None = None,
    *,
    accept: bool = True,
    edit: bool = True,
    respond: bool = True,
    ignore: bool = True,
    description: str = "Close this ticket?",
) -> dict:
    return {
        "action_request": {"action": action, "args": dict(args or {"ticket": "T-1"})},
        "config": {
            "allow_accept": accept,
            "allow_edit": edit,
            "allow_respond": respond,
            "allow_ignore": ignore,
        },
        "description": description,
    }


# What ``per_call_schema(["approve", "edit", "reject"])`` publishes for a three-argument
# ``send_email`` tool, as a client receives it (a test checks this copy against the real one).
SEND_EMAIL_3 = {
    "description": "Send an email.",
    "properties": {
        "to": {"title": "To", "type": "string"},
        "subject": {"title": "Subject", "type": "string"},
        "body": {"title": "Body", "type": "string"},
    },
    "required": ["to", "subject", "body"],
    "title": "send_email",
    "type": "object",
}
HAND_WRITTEN_PER_CALL_SCHEMA: dict[str, Any] = {
    "$defs": {
        "ApproveDecision": {
            "description": "Response when a human approves the action.",
            "properties": {"type": {"const": "approve", "title": "Type", "type": "string"}},
            "required": ["type"],
            "title": "ApproveDecision",
            "type": "object",
        },
        "EditDecision": {
            "properties": {
                "type": {"const": "edit", "title": "Type", "type": "string"},
                "edited_action": {"$ref": "#/$defs/EditedAction"},
            },
            "required": ["type", "edited_action"],
            "title": "EditDecision",
            "type": "object",
        },
        "EditedAction": {
            "properties": {
                "name": {"const": "send_email", "title": "Name", "type": "string"},
                "args": {"$ref": "#/$defs/send_email"},
            },
            "required": ["name", "args"],
            "title": "EditedAction",
            "type": "object",
        },
        "RejectDecision": {
            "description": "Response when a human rejects the action.",
            "properties": {
                "type": {"const": "reject", "title": "Type", "type": "string"},
                "message": {"title": "Message", "type": "string"},
            },
            "required": ["type"],
            "title": "RejectDecision",
            "type": "object",
        },
        "send_email": SEND_EMAIL_3,
    },
    "discriminator": {
        "mapping": {
            "approve": "#/$defs/ApproveDecision",
            "edit": "#/$defs/EditDecision",
            "reject": "#/$defs/RejectDecision",
        },
        "propertyName": "type",
    },
    "oneOf": [
        {"$ref": "#/$defs/ApproveDecision"},
        {"$ref": "#/$defs/EditDecision"},
        {"$ref": "#/$defs/RejectDecision"},
    ],
}
