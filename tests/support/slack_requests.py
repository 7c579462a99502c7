"""Build Slack request bodies and sign them exactly as Slack does."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

SIGNING_SECRET = "test-signing-secret"


def sign(body: bytes, secret: str = SIGNING_SECRET, timestamp: int | None = None) -> dict:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def command_payload(
    text: str,
    user: str = "U0REQ",
    channel: str = "C0REQ",
    response_url: str = "https://hooks.invalid/commands/1",
) -> dict[str, str]:
    """A ``/agent`` slash command as Slack sends it (form fields over HTTP, the same keys as
    JSON in a Socket Mode ``slash_commands`` envelope)."""
    return {
        "token": "legacy",
        "team_id": "T1",
        "team_domain": "acme",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/agent",
        "text": text,
        "api_app_id": "A1",
        "response_url": response_url,
        "trigger_id": f"trig-{time.monotonic_ns()}",
    }


def command_body(
    text: str,
    user: str = "U0REQ",
    channel: str = "C0REQ",
    response_url: str = "https://hooks.invalid/commands/1",
) -> bytes:
    return urlencode(command_payload(text, user, channel, response_url)).encode()


def _payload(data: dict[str, Any]) -> bytes:
    return urlencode({"payload": json.dumps(data)}).encode()


def click_payload(
    action_id: str,
    approval_id: str,
    user: str,
    channel: str = "C0REQ",
    ts: str = "1.0",
    blocks: list[dict[str, Any]] | None = None,
    value: str | None = None,
) -> dict[str, Any]:
    """A click on one of a card's buttons (``block_actions``); ``value``: the button's value
    (default: the one on the clicked card's button, else the request id alone)."""
    if value is None:
        value = button_value(blocks, approval_id, action_id) or approval_id
    return {
        "type": "block_actions",
        "team": {"id": "T1", "domain": "acme"},
        "user": {"id": user, "username": user.lower(), "team_id": "T1"},
        "api_app_id": "A1",
        "token": "legacy",
        "container": {"type": "message", "message_ts": ts, "channel_id": channel},
        "trigger_id": f"trig-{time.monotonic_ns()}",
        "channel": {"id": channel, "name": "general"},
        # Slack sends the clicked message with its blocks (the card, as it stands).
        "message": {"ts": ts, "type": "message", **({"blocks": blocks} if blocks else {})},
        "response_url": "https://hooks.invalid/actions/1",
        "actions": [
            {
                "action_id": action_id,
                "block_id": f"decide:{approval_id}",
                "value": value,
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
    }


def click_body(
    action_id: str,
    approval_id: str,
    user: str,
    channel: str = "C0REQ",
    ts: str = "1.0",
    blocks: list[dict[str, Any]] | None = None,
    value: str | None = None,
) -> bytes:
    return _payload(click_payload(action_id, approval_id, user, channel, ts, blocks, value))


def select_body(
    action_id: str,
    approval_id: str,
    user: str,
    value: str,
    channel: str = "C0REQ",
    ts: str = "1.0",
    blocks: list[dict[str, Any]] | None = None,
) -> bytes:
    """An option picked in one of a card's select menus (``block_actions`` with the option)."""
    payload = click_payload(action_id, approval_id, user, channel, ts, blocks, value)
    payload["actions"] = [
        {
            "action_id": action_id,
            "block_id": f"decide:{approval_id}",
            "type": "static_select",
            "selected_option": {"text": {"type": "plain_text", "text": value}, "value": value},
            "action_ts": str(time.time()),
        }
    ]
    return _payload(payload)


def menu_value(blocks: Any, approval_id: str, action_id: str, seconds: int) -> str | None:
    """The value of the option for ``seconds`` in the request's menu ``action_id`` on a card."""
    for block in blocks or []:
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            if element.get("action_id") != action_id:
                continue
            for option in element.get("options") or []:
                value = str(option.get("value") or "")
                if value.split(":")[0] == approval_id and value.endswith(f":{seconds}"):
                    return value
    return None


def button_value(blocks: Any, approval_id: str, action_id: str) -> str | None:
    """The value of the request's button with ``action_id`` on a card, as Slack sends it."""
    for block in blocks or []:
        if not isinstance(block, dict) or block.get("type") != "actions":
            continue
        for element in block.get("elements") or []:
            value = str(element.get("value") or "")
            if element.get("action_id") == action_id and value.split(":")[0] == approval_id:
                return value
    return None


def submission_body(callback_id: str, approval_id: str, user: str, values: dict[str, Any]) -> bytes:
    """A modal submitted; a value that is a dict is sent as the element's state as it is (a
    select's ``{"type": "static_select", "selected_option": {...}}``)."""
    state = {
        block: {
            "value": value
            if isinstance(value, dict)
            else {"type": "plain_text_input", "value": value}
        }
        for block, value in values.items()
    }
    return _payload(
        {
            "type": "view_submission",
            "team": {"id": "T1", "domain": "acme"},
            "user": {"id": user, "username": user.lower(), "team_id": "T1"},
            "api_app_id": "A1",
            "token": "legacy",
            "trigger_id": f"trig-{time.monotonic_ns()}",
            "view": {
                "id": "V1",
                "type": "modal",
                "callback_id": callback_id,
                "private_metadata": approval_id,
                "state": {"values": state},
                "hash": "h",
            },
        }
    )


def home_opened_body(user: str) -> bytes:
    return json.dumps(
        {
            "token": "legacy",
            "team_id": "T1",
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": f"Ev{time.monotonic_ns()}",
            "event_time": int(time.time()),
            "event": {"type": "app_home_opened", "user": user, "channel": "D1", "tab": "home"},
        }
    ).encode()


def retry_body(thread_id: str, user: str) -> bytes:
    """A click on a failure note's Retry button (``bot.slack.blocks.notices.retry_blocks``)."""
    from bot.slack.blocks.notices import RETRY

    payload = click_payload(RETRY, "0" * 16, user)
    payload["actions"][0]["value"] = thread_id
    payload["actions"][0]["block_id"] = f"retry:{thread_id}"
    return urlencode({"payload": json.dumps(payload)}).encode()
