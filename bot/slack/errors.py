"""What Slack's errors say of a call that failed: refused for good (the same call would be refused
again), certainly not done (it may be tried again), or perhaps done (a call that is not
repeatable is then never sent again, and its outcome is unknown). One exception of our own,
:class:`NotGranted`, for a call the app's scopes do not allow; the rest are slack_sdk's
``SlackApiError``, read here."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError


class NotGranted(RuntimeError):
    """Slack refuses a call for want of a scope the app was not installed with."""


# Slack's answers to chat.postMessage that the same post would get again, whenever it is tried:
# the conversation does not exist for the bot (a DM between people, a private channel), the bot
# is not in it, it is archived, or the blocks are not valid.
REFUSALS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "msg_blocks_too_long"}
)


# Calls that do something again each time they are sent (a second message everyone sees):
# never repeated after Slack may have carried them out. Not among them: an ephemeral note (only
# its one reader sees it twice, and a missing one leaves a click unanswered) and opening a
# modal (its trigger opens one, and a second try is refused).
SENT_ONCE = frozenset(
    {
        "chat.postMessage",
        "chat.scheduleMessage",
        "chat.meMessage",
        "files.completeUploadExternal",
    }
)
# Slack's errors that say the call may have been carried out in part before it failed
# ("It's possible some aspect of the operation succeeded"), and the HTTP statuses a call can get
# after it reached Slack's servers. A 503 (service_unavailable) and a 429 say nothing was done.
MAY_HAVE_HAPPENED = frozenset({"internal_error", "fatal_error"})
MAY_HAVE_HAPPENED_STATUS = frozenset({500, 502, 504})


def method_of(url: str) -> str:
    """The Web API method a call's URL names: ``chat.postMessage``."""
    return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def may_have_happened(method: str, status: int, error: object) -> bool:
    return method in SENT_ONCE and (
        status in MAY_HAVE_HAPPENED_STATUS or error in MAY_HAVE_HAPPENED
    )


def uncertain(exc: BaseException) -> bool:
    """Slack answered a call that is not repeatable (``SENT_ONCE``) with an error that says it
    may have been carried out anyway: its outcome is unknown, and it is not sent again."""
    if not isinstance(exc, SlackApiError) or exc.response is None:
        return False
    response = exc.response
    error = response.data.get("error") if isinstance(response.data, dict) else None
    return may_have_happened(method_of(response.api_url), response.status_code, error)


def not_done(exc: BaseException) -> bool:
    """Slack answered with an error (ok: false, or a 5xx/429 past the client's own retries)
    that says the call did nothing, so an effect may be tried again (the effect ledger's
    ``retryable``); see :func:`uncertain` for the answers that do not say so."""
    return isinstance(exc, SlackApiError) and not uncertain(exc)


def refusal(exc: BaseException) -> str | None:
    """Slack's error code when ``exc`` is a permanent refusal of a post (see ``REFUSALS``)."""
    if not isinstance(exc, SlackApiError):
        return None
    error = exc.response.get("error") if exc.response is not None else None
    return str(error) if error in REFUSALS else None


def said(exc: Exception) -> str:
    """What went wrong with a call, in a few words."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        data = exc.response.data
        error = data.get("error") if isinstance(data, dict) else None
        return f"Slack answered {error or exc.response.status_code}"
    return f"the call failed ({type(exc).__name__})"
