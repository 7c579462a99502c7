"""What an HTTP answer means for an effect: done, not done (try again), refused, or unknown.

Once a request was sent, an error answer does not say the other side did nothing: a webhook may
act and then answer 502 (its proxy timed out) or 307 (a redirect, never followed). Repeating
such a call may do it twice, so for a target that cannot tell a repeat from a new call the
outcome is *unknown*: reported once, never repeated.

A target that honours an ``Idempotency-Key`` (declared by the operator in
``WEBHOOK_IDEMPOTENT``) can: every retry of one effect carries the same key
(:func:`idempotency_key`, derived from the effect's ledger key), so a 5xx, 409 (a call with
that key is still in flight) or 429 may be retried. Reading a URL (GET) is safe to repeat.

Whatever the target, 408, 425 and 429 say the request was not processed, and any other 4xx is a
definite refusal (not done, and the same call would be refused again: not retried).

A mail server's 5xx before it took the message (to its greeting, the login, the sender, every
recipient, or DATA and the message itself) is a definite refusal too (:func:`smtp_refusal`): a
4xx there means "not now", and is tried again.
"""

from __future__ import annotations

import contextlib
import hashlib
import smtplib
from collections.abc import Iterator
from contextvars import ContextVar

from graphs.outbound import Answer, OutboundError

NOT_PROCESSED = frozenset({408, 425, 429})  # by their definitions the request was not acted on
IN_FLIGHT = 409  # with an idempotency key: the same key's call is still running there

_effect_key: ContextVar[str | None] = ContextVar("effect_key", default=None)


class Declined(OutboundError):
    """The target refused the call for good: nothing was done, and it is not tried again."""


class TryAgain(OutboundError):
    """Nothing was done (or repeating it is harmless): the effect is tried again later."""


class OutcomeUnknown(OutboundError):
    """The call was sent and may have been acted on: reported once, never repeated."""


# What smtplib raises for an answer before the server took the message, and what it answered.
_SMTP_STAGES: tuple[tuple[type[smtplib.SMTPResponseException], str], ...] = (
    (smtplib.SMTPConnectError, "greeting"),
    (smtplib.SMTPHeloError, "EHLO"),
    (smtplib.SMTPAuthenticationError, "login"),
    (smtplib.SMTPSenderRefused, "sender"),
    (smtplib.SMTPDataError, "message"),
)


def smtp_refusal(exc: BaseException) -> str | None:
    """What a mail server said when it refused for good (5xx) before taking the message, else
    None. Nothing was sent and the same message would be refused again. Every recipient must be
    refused 5xx: one refused 4xx may be taken later."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        answers = exc.recipients
        if not answers or any(not 500 <= code < 600 for code, _said in answers.values()):
            return None
        said = ", ".join(
            f"{to} ({code} {_line(text)})" for to, (code, text) in sorted(answers.items())
        )
        return f"refused: the mail server refused every recipient: {said}"
    for error, stage in _SMTP_STAGES:
        if isinstance(exc, error) and 500 <= exc.smtp_code < 600:
            said = f"{exc.smtp_code} {_line(exc.smtp_error)}"
            return f"refused: the mail server answered {said} to the {stage}"
    return None


def _line(text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return " ".join(text.split())  # a multi-line answer on one line


@contextlib.contextmanager
def effect(key: str) -> Iterator[None]:
    """While an effect with ledger key ``key`` runs (set by ``bot.core.ledger.Ledger.once``)."""
    token = _effect_key.set(key)
    try:
        yield
    finally:
        _effect_key.reset(token)


def idempotency_key() -> str | None:
    """The ``Idempotency-Key`` for the running effect: the same on every retry of it, opaque (a
    hash, so no thread id leaves the bot), and None outside an effect."""
    key = _effect_key.get()
    if key is None:
        return None
    return hashlib.sha256(f"agent-approvals effect {key}".encode()).hexdigest()[:32]


def judge(answer: Answer, repeatable: bool) -> None:
    """Raise unless ``answer`` is a success. ``repeatable``: the same request may be sent again
    without acting twice (a GET, or a POST with an idempotency key the target honours)."""
    status, line = answer.status, answer.status_line
    if status < 300:
        return
    if status < 400:
        if repeatable:
            return  # a GET's redirect is its answer: reported, not followed
        raise OutcomeUnknown(
            f"outcome unknown: the server answered {line} after receiving the call "
            "(redirects are not followed); not repeated"
        )
    if status in NOT_PROCESSED or (repeatable and (status >= 500 or status == IN_FLIGHT)):
        raise TryAgain(f"the server answered {line}")
    if status >= 500 or status == IN_FLIGHT:
        raise OutcomeUnknown(
            f"outcome unknown: the server answered {line} after receiving the call; not repeated"
        )
    raise Declined(f"refused: the server answered {line}")
