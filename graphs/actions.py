"""The registry of real actions the ``action`` graph may propose, with pure validation.

Each action declares its parameters, so the approval card can show them, the Edit modal can
offer one input per parameter and reject bad values inline, and the executor can refuse a
malformed call. Each action also has a risk floor: the planner may rate an action higher, never
lower (a model cannot talk an email into "low risk").
"""

from __future__ import annotations

import contextlib
import logging
import re
import smtplib
import socket
import ssl
from base64 import b64encode
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal, TypeVar, cast
from urllib.parse import urlparse

from graphs import json_text
from graphs.addresses import (
    EMAILS_PROBLEM,
    Allowlist,
    MailServer,
    email_addresses,
    parse_mail_server,
    parse_target,
)
from graphs.outbound import DEADLINE, Deadline, Outbound, Refused, first_connected
from graphs.outcomes import Declined, TryAgain, idempotency_key, judge, smtp_refusal

logger = logging.getLogger(__name__)

Risk = Literal["low", "medium", "high"]
RISKS: tuple[Risk, ...] = ("low", "medium", "high")
MAX_PARAM_CHARS = 3000  # what Slack's editor (plain_text_input) holds
EMAIL_DEADLINE = 60.0  # seconds for a whole SMTP exchange (each read: 15 s at most)
MAX_MESSAGE_CHARS = 40_000  # what one chat.postMessage text holds; longer posts are split anyway

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
    # A floor that depends on the call (check_url: low only for a URL on the allowlist).
    floor: Callable[[Mapping[str, str]], Risk] | None = None


def _check(param: Param, value: str) -> str | None:
    if not value.strip():
        return f"{param.label} is required." if param.required else None
    if len(value) > param.max_chars:
        return f"{param.label} is longer than {param.max_chars} characters."
    if param.kind == "email" and email_addresses(value) is None:
        return EMAILS_PROBLEM
    if param.kind == "channel" and not _CHANNEL.match(value.strip()):
        return "Enter a channel ID (C…) or #channel-name."
    if param.kind == "url" and urlparse(value.strip()).scheme not in ("http", "https"):
        return "Enter an http:// or https:// URL."
    if param.kind == "json":
        return json_text.parse(value)[1]
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

    def risk(self, name: str, proposed: str, params: Mapping[str, object] | None = None) -> Risk:
        """The proposed risk, raised to the action's floor for these parameters."""
        spec = self.specs.get(name)
        floors: list[str] = [spec.min_risk if spec else "high"]
        if spec is not None and spec.floor is not None:
            floors.append(spec.floor({k: str(v) for k, v in (params or {}).items()}))
        level = proposed if proposed in RISKS else "high"
        return cast(Risk, max([*floors, level], key=RISKS.index))

    def run(self, name: str, params: Mapping[str, str]) -> str:
        spec = self.specs[name]
        errors = self.validate(name, params)
        if errors:
            raise ValueError("; ".join(f"{k}: {v}" for k, v in errors.items()))
        return spec.run({p.name: str(params.get(p.name, "")) for p in spec.params})


def send_email(
    smtp_url: str | None,
    sender: str,
    params: Mapping[str, str],
    deadline: float = EMAIL_DEADLINE,
) -> str:
    """Send one message. ``deadline`` bounds the whole SMTP exchange (each socket read is
    bounded too, but a server answering a byte at a time would pass every such bound): past it
    the connection is cut and the outcome is unknown (:class:`graphs.outbound.NoAnswer`)."""
    if not smtp_url:
        raise RuntimeError("email is not configured: set SMTP_URL (smtp://host:port)")
    recipients = email_addresses(params["to"])
    if recipients is None:
        raise ValueError(f"to: {EMAILS_PROBLEM}")
    server = parse_mail_server(smtp_url)
    message = EmailMessage()
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Subject"] = params["subject"]
    message.set_content(params["body"])
    limit = Deadline(deadline)
    try:
        try:
            smtp = _connected(server, min(15.0, deadline), limit)
        except (OSError, smtplib.SMTPException) as exc:
            limit.check()  # cut off at the deadline: NoAnswer, outcome unknown
            _not_offered_yet(exc)
            raise
        try:
            if server.username:
                try:
                    smtp.login(server.username, server.password or "")
                except smtplib.SMTPServerDisconnected as exc:
                    limit.check()
                    _not_offered_yet(exc)
            # The envelope is exactly the checked list: smtplib would otherwise read it from
            # the To header, where "<...>", "[...]" and encoded words mean something else.
            refused = smtp.send_message(message, to_addrs=list(recipients))
        except (OSError, smtplib.SMTPException):
            smtp.close()  # no QUIT: its answer would hide what went wrong
            limit.check()
            raise
        # Accepted (250 after DATA): the email is sent, whatever the goodbye brings.
        _say_goodbye(smtp)
    except smtplib.SMTPException as exc:
        refusal = smtp_refusal(exc)
        if refusal is None:
            raise
        raise Declined(_without_secrets(refusal, server)) from None
    finally:
        limit.stop()
    said = f"Email sent to {', '.join(recipients)} with subject {params['subject']!r}"
    if refused:
        said += "; the server refused " + ", ".join(
            f"{address} ({code})" for address, (code, _text) in sorted(refused.items())
        )
    return said


def _in_a_slot(
    slots: Callable[[], AbstractContextManager[None]] | None, send: Callable[[], str]
) -> str:
    """``send`` holding one of ``slots`` (NoSlot when none is free: it waits its turn)."""
    with slots() if slots is not None else contextlib.nullcontext():
        return send()


def _not_offered_yet(exc: BaseException) -> None:
    """A server that hung up before the message was offered (at its greeting, or at the login)
    certainly did not take it: try again later (a hang-up once the message is under way is
    outcome unknown, bot.core.effect_errors.outcome_unknown)."""
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        raise TryAgain(f"the mail server hung up before the message was offered ({exc})") from exc


def _without_secrets(text: str, server: MailServer) -> str:
    """``text`` with SMTP_URL's password blanked out, as given and as AUTH sent it (a server
    may quote the line it could not read)."""
    if not server.password:
        return text
    password = server.password
    plain = f"\0{server.username}\0{password}".encode()  # AUTH PLAIN; LOGIN sends it alone
    for secret in (password, b64encode(password.encode()).decode(), b64encode(plain).decode()):
        text = text.replace(secret, "[hidden]")
    return text


def _say_goodbye(smtp: smtplib.SMTP) -> None:
    """QUIT once the message was accepted. A server may answer it with anything (421 "closing"
    instead of 221) or hang up first: the message is sent all the same, so that is only logged,
    never raised (an error here would be taken for a failed send, and the email sent again)."""
    try:
        code, answer = smtp.quit()
    except (OSError, smtplib.SMTPException) as exc:
        smtp.close()
        code, answer = -1, str(exc).encode()
    if code != 221:
        logger.warning(
            "email sent; the mail server's answer to QUIT was not 221: %s %r", code, answer
        )


def _connected(server: MailServer, timeout: float, limit: Deadline) -> smtplib.SMTP:
    """A connection to ``server``. smtps: TLS from the start, the server's certificate checked
    against the host (smtplib's default context checks nothing), the host given when the
    client is made (``connect`` alone leaves SMTP_SSL without one)."""
    host, port = server.host, server.port
    if server.secure:
        secured = _watched(smtplib.SMTP_SSL, limit)
        return secured(host, port, timeout=timeout, context=ssl.create_default_context())
    return _watched(smtplib.SMTP, limit)(host, port, timeout=timeout)


Client = TypeVar("Client", bound=smtplib.SMTP)


def _watched(smtp_class: type[Client], limit: Deadline) -> type[Client]:
    """``smtp_class`` whose host is looked up within ``limit`` and whose socket ``limit`` shuts
    down when its time is up."""

    class Watched(smtp_class):  # type: ignore[misc, valid-type]
        def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
            # smtps: the TLS handshake checks self._host, the name, whichever address it is.
            opened = super()._get_socket

            def connect(address: str, left: float) -> socket.socket:
                return cast(socket.socket, opened(address, port, min(timeout, left)))

            # There is no socket to shut down during the lookup: it is bounded on its own.
            sock = first_connected(host, port, limit, connect)
            limit.watch(sock)
            return sock

    return Watched


def _only_listed(outbound: Outbound, url: str) -> None:
    """With ``WEBHOOK_ALLOWLIST`` set, the shipped actions reach only the origins it lists."""
    if outbound.allowlist and not outbound.listed(url):
        raise Refused("refused: that URL is not in WEBHOOK_ALLOWLIST")


def call_webhook(outbound: Outbound, params: Mapping[str, str], idempotent: bool = False) -> str:
    """POST once. ``idempotent``: the target honours ``Idempotency-Key``, so an error answer
    may be retried with the same key; otherwise an error after sending is "outcome unknown"."""
    url = params["url"].strip()
    _only_listed(outbound, url)
    body = (params.get("payload") or "{}").encode()
    headers = {"Content-Type": "application/json"}
    key = idempotency_key()
    if key is not None:  # always sent: harmless to a target that ignores it
        headers["Idempotency-Key"] = key
    answer = outbound.request("POST", url, body, headers)
    judge(answer, repeatable=idempotent and key is not None)
    return f"Webhook {url} answered {answer.status_line}"


def check_url(outbound: Outbound, params: Mapping[str, str]) -> str:
    url = params["url"].strip()
    _only_listed(outbound, url)
    answer = outbound.request("GET", url)
    judge(answer, repeatable=True)  # a GET: an error answer may be retried
    return f"{url} answered {answer.status_line}"


def declared_idempotent(idempotent: Allowlist) -> Callable[[str], bool]:
    """Whether ``WEBHOOK_IDEMPOTENT`` lists the URL's exact origin."""

    def listed(url: str) -> bool:
        try:
            return idempotent.allows(parse_target(url.strip()).origin)
        except ValueError:
            return False

    return listed


def check_url_risk(outbound: Outbound) -> Callable[[Mapping[str, str]], Risk]:
    """``check_url`` runs without a person only for a URL on the allowlist."""
    return lambda params: "low" if outbound.listed(str(params.get("url", ""))) else "medium"


def default_registry(
    post_message: Callable[[str, str], str],
    smtp_url: str | None,
    email_from: str,
    webhook_allowlist: Allowlist | None = None,
    outbound: Outbound | None = None,
    webhook_idempotent: Allowlist | None = None,
    webhook_deadline: float = DEADLINE,
    slots: Callable[[], AbstractContextManager[None]] | None = None,
) -> ActionRegistry:
    """``outbound``: how ``call_webhook`` and ``check_url`` reach out (tests inject a resolver
    and connector); by default the real network, guarded, with ``webhook_allowlist``, each call
    within ``webhook_deadline`` seconds in all and holding one of ``slots`` while it runs (an
    email holds one too: a stalled mail server takes no more workers than a stalled webhook).
    ``webhook_idempotent``: origins whose webhooks honour ``Idempotency-Key``."""
    if outbound is None:
        outbound = Outbound(
            webhook_allowlist or Allowlist(), deadline=webhook_deadline, slots=slots
        )
    idempotent = declared_idempotent(webhook_idempotent or Allowlist())
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
                lambda p: _in_a_slot(slots, lambda: send_email(smtp_url, email_from, p)),
            ),
            ActionSpec(
                "call_webhook",
                "POST a JSON payload to an HTTP webhook",
                (
                    Param("url", "URL", "url"),
                    Param("payload", "JSON payload", "json", False, True, MAX_MESSAGE_CHARS),
                ),
                "medium",
                lambda p: call_webhook(outbound, p, idempotent(p["url"])),
            ),
            ActionSpec(
                "check_url",
                "Check that a URL answers (read-only HTTP GET)",
                (Param("url", "URL", "url"),),
                "low",
                lambda p: check_url(outbound, p),
                floor=check_url_risk(outbound),
            ),
        ]
    )
