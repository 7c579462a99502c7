"""What an effect's error says happened on the other side (:mod:`bot.core.ledger` acts on it):
certainly nothing, so trying again is right (:func:`certainly_failed`); perhaps something, so
it is never tried again (:func:`outcome_unknown`); or a definite refusal the same call would
meet again (:func:`refused`). HTTP (urllib's own calls), SMTP and the socket's errors, and
the graphs' typed outcomes (:mod:`graphs.outcomes`)."""

from __future__ import annotations

import http.client
import smtplib
import urllib.error
from collections.abc import Callable

from graphs.outcomes import NOT_PROCESSED, Declined, OutcomeUnknown, TryAgain, smtp_refusal

# Raised by smtplib before the server took the message: the connection's greeting, HELO/EHLO,
# AUTH, MAIL FROM (the sender), RCPT TO (every recipient refused), a message the server cannot
# carry (SMTPUTF8). An SMTPDataError is one of these only when its code says so
# (:func:`_refused_data`); an error after the message was accepted (the answer to QUIT) never
# leaves ``send_email``.
_SMTP_BEFORE_ACCEPTANCE = (
    smtplib.SMTPConnectError,
    smtplib.SMTPHeloError,
    smtplib.SMTPAuthenticationError,
    smtplib.SMTPNotSupportedError,
    smtplib.SMTPSenderRefused,
    smtplib.SMTPRecipientsRefused,
)


def _refused_data(exc: smtplib.SMTPDataError) -> bool:
    """An SMTPDataError is a refusal only when its code is 4xx or 5xx (DATA itself refused, or
    the message refused after its end: the server took no responsibility for it). smtplib
    raises it for any answer but 250 after the message, so a 2xx other than 250 (or a garbled
    answer) may mean it was accepted."""
    return 400 <= exc.smtp_code < 600


def outcome_unknown(exc: BaseException) -> bool:
    """True when the request may have reached the other side before it failed (a timeout, a
    dropped connection, an error answer after the call was sent to a target that cannot tell a
    repeat): it may have happened, so it is never tried again."""
    if isinstance(exc, OutcomeUnknown):
        return True
    if isinstance(exc, TimeoutError | ConnectionResetError | http.client.RemoteDisconnected):
        return True
    # The mail server hung up (during DATA, it may have taken the message) or answered the
    # message with neither a 250 nor a refusal.
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return True
    if isinstance(exc, smtplib.SMTPDataError) and not _refused_data(exc):
        return True
    if isinstance(exc, urllib.error.HTTPError):  # a plain urllib call (a graph of one's own)
        return exc.code < 400 or exc.code >= 500 or exc.code == 409
    reason = getattr(exc, "reason", None)
    return isinstance(exc, urllib.error.URLError) and isinstance(reason, TimeoutError)


def refused(exc: BaseException) -> bool:
    """True for a definite refusal: nothing happened, and the same call would be refused."""
    if isinstance(exc, Declined) or smtp_refusal(exc) is not None:
        return True
    return isinstance(exc, urllib.error.HTTPError) and not (
        outcome_unknown(exc) or exc.code in NOT_PROCESSED
    )


def never(_exc: BaseException) -> bool:
    """No error is one (an edge with nothing of its own to add to a classification)."""
    return False


def certainly_failed(exc: BaseException, also: Callable[[BaseException], bool] = never) -> bool:
    """True when the other side answered "not now" (or never let us in): nothing happened
    there, and trying again is right. ``also``: an edge's own "answered with an error that
    did nothing" (Slack's: :func:`bot.slack.errors.not_done`)."""
    if also(exc) or isinstance(exc, TryAgain | ConnectionRefusedError):
        return True
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in NOT_PROCESSED
    if isinstance(exc, smtplib.SMTPDataError):
        return _refused_data(exc)
    if isinstance(exc, _SMTP_BEFORE_ACCEPTANCE):
        return True
    reason = getattr(exc, "reason", None)  # urllib.error.URLError wraps the socket error
    return isinstance(exc, urllib.error.URLError) and isinstance(reason, ConnectionRefusedError)
