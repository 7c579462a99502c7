"""The registry of real actions the ``action`` graph may propose, with pure validation.

Each action declares its parameters, so the approval card can show them, the Edit modal can
offer one input per parameter and reject bad values inline, and the executor can refuse a
malformed call. Each action also has a risk floor: the planner may rate an action higher, never
lower (a model cannot talk an email into "low risk").
"""

from __future__ import annotations

import json
import re
import smtplib
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal
from urllib.parse import urlparse

Risk = Literal["low", "medium", "high"]
RISKS: tuple[Risk, ...] = ("low", "medium", "high")
MAX_PARAM_CHARS = 3000  # what Slack's editor (plain_text_input) holds
MAX_MESSAGE_CHARS = 40_000  # what one chat.postMessage text holds; longer posts are split anyway

_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,}$|^#[a-z0-9][a-z0-9._-]{0,79}$")


@dataclass(frozen=True)
class Param:
    name: str
    label: str
    kind: Literal["text", "email", "channel", "url", "json"] = "text"
    required: bool = True
    multiline: bool = False
    # Longer values cannot be edited in Slack, but an approved one may still run (a long draft).
    max_chars: int = MAX_PARAM_CHARS


@dataclass(frozen=True)
class ActionSpec:
    name: str
    description: str
    params: tuple[Param, ...]
    min_risk: Risk
    run: Callable[[Mapping[str, str]], str]


def _check(param: Param, value: str) -> str | None:
    if not value.strip():
        return f"{param.label} is required." if param.required else None
    if len(value) > param.max_chars:
        return f"{param.label} is longer than {param.max_chars} characters."
    if param.kind == "email" and not all(_EMAIL.match(v.strip()) for v in value.split(",")):
        return "Enter one or more email addresses, separated by commas."
    if param.kind == "channel" and not _CHANNEL.match(value.strip()):
        return "Enter a channel ID (C…) or #channel-name."
    if param.kind == "url" and urlparse(value.strip()).scheme not in ("http", "https"):
        return "Enter an http:// or https:// URL."
    if param.kind == "json":
        try:
            json.loads(value)
        except ValueError as exc:
            return f"Not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
    return None


class ActionRegistry:
    def __init__(self, specs: list[ActionSpec]) -> None:
        self.specs = {spec.name: spec for spec in specs}

    def get(self, name: str) -> ActionSpec | None:
        return self.specs.get(name)

    def validate(self, name: str, params: Mapping[str, object]) -> dict[str, str]:
        """Problems by parameter name; empty when the call may run."""
        spec = self.specs.get(name)
        if spec is None:
            return {"action_type": f"Unknown action {name!r}."}
        errors: dict[str, str] = {}
        for param in spec.params:
            problem = _check(param, str(params.get(param.name, "") or ""))
            if problem:
                errors[param.name] = problem
        return errors

    def risk(self, name: str, proposed: str) -> Risk:
        spec = self.specs.get(name)
        floor = spec.min_risk if spec else "high"
        level = proposed if proposed in RISKS else "high"
        return max(floor, level, key=RISKS.index)  # type: ignore[return-value]

    def run(self, name: str, params: Mapping[str, str]) -> str:
        spec = self.specs[name]
        errors = self.validate(name, params)
        if errors:
            raise ValueError("; ".join(f"{k}: {v}" for k, v in errors.items()))
        return spec.run({p.name: str(params.get(p.name, "")) for p in spec.params})


def send_email(smtp_url: str | None, sender: str, params: Mapping[str, str]) -> str:
    if not smtp_url:
        raise RuntimeError("email is not configured: set SMTP_URL (smtp://host:port)")
    url = urlparse(smtp_url)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = params["to"]
    message["Subject"] = params["subject"]
    message.set_content(params["body"])
    smtp_class = smtplib.SMTP_SSL if url.scheme == "smtps" else smtplib.SMTP
    with smtp_class(url.hostname or "localhost", url.port or 25, timeout=15) as smtp:
        if url.username:
            smtp.login(url.username, url.password or "")
        smtp.send_message(message)
    return f"Email sent to {params['to']} with subject {params['subject']!r}"


def call_webhook(allowlist: tuple[str, ...], params: Mapping[str, str]) -> str:
    url = params["url"].strip()
    if allowlist and not url.startswith(allowlist):
        raise RuntimeError(f"{url} is not in WEBHOOK_ALLOWLIST")
    body = params.get("payload") or "{}"
    request = urllib.request.Request(
        url, data=body.encode(), method="POST", headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310 - http(s) only
        return f"Webhook {url} answered HTTP {response.status}"


def check_url(allowlist: tuple[str, ...], params: Mapping[str, str]) -> str:
    url = params["url"].strip()
    if allowlist and not url.startswith(allowlist):
        raise RuntimeError(f"{url} is not in WEBHOOK_ALLOWLIST")
    with urllib.request.urlopen(url, timeout=15) as response:  # noqa: S310 - http(s) only
        return f"{url} answered HTTP {response.status}"


def default_registry(
    post_message: Callable[[str, str], str],
    smtp_url: str | None,
    email_from: str,
    webhook_allowlist: tuple[str, ...] = (),
) -> ActionRegistry:
    return ActionRegistry(
        [
            ActionSpec(
                "post_message",
                "Post a message to a Slack channel",
                (
                    Param("channel", "Channel", "channel"),
                    Param("text", "Message", multiline=True, max_chars=MAX_MESSAGE_CHARS),
                ),
                "medium",
                lambda p: post_message(p["channel"], p["text"]),
            ),
            ActionSpec(
                "send_email",
                "Send an email over SMTP",
                (
                    Param("to", "To", "email"),
                    Param("subject", "Subject"),
                    Param("body", "Body", multiline=True, max_chars=MAX_MESSAGE_CHARS),
                ),
                "medium",
                lambda p: send_email(smtp_url, email_from, p),
            ),
            ActionSpec(
                "call_webhook",
                "POST a JSON payload to an HTTP webhook",
                (
                    Param("url", "URL", "url"),
                    Param("payload", "JSON payload", "json", False, True, MAX_MESSAGE_CHARS),
                ),
                "medium",
                lambda p: call_webhook(webhook_allowlist, p),
            ),
            ActionSpec(
                "check_url",
                "Check that a URL answers (read-only HTTP GET)",
                (Param("url", "URL", "url"),),
                "low",
                lambda p: check_url(webhook_allowlist, p),
            ),
        ]
    )
