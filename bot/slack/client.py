"""Every Slack Web API call the engine makes, in one place. Callers pass records, not JSON."""

from __future__ import annotations

import json
import logging
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.request import Request

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from bot.domain.models import Approval, Decision
from bot.slack.blocks import card
from bot.slack.blocks.text import chunks, cut_escaped, escape
from bot.slack.keepalive import Connections, as_http_error
from graphs.outcomes import OutcomeUnknown

logger = logging.getLogger(__name__)
MESSAGE_LIMIT = 3900
MEMBER_PAGE = 999  # conversations.members' largest page
MEMBER_PAGES = 50  # read at most this many pages of a channel's members (about 50,000)
# conversations.members' answers for a conversation the bot cannot read the members of.
UNSEEN = frozenset({"channel_not_found", "method_not_supported_for_channel_type"})
# Its answers when the app was installed without the scopes it needs: waiting will not help.
UNGRANTED = frozenset({"missing_scope", "not_allowed_token_type"})
MEMBER_SCOPES = "channels:read, groups:read, im:read and mpim:read"


class NotGranted(RuntimeError):
    """Slack refuses a call for want of a scope the app was not installed with."""


# The deadline of the Slack call this thread is making: its retries and their waits share it.
_call = threading.local()


def _left() -> float:
    """Seconds left of the current call's ``SLACK_TIMEOUT`` (unbounded outside a call)."""
    ends: float | None = getattr(_call, "ends", None)
    return float("inf") if ends is None else ends - time.monotonic()


class _Counted(WebClient):
    """A WebClient that reports every call that fails (Slack said no, or never answered), and
    sends its calls on kept-alive connections (:mod:`bot.slack.keepalive`) instead of a new
    one (a new TLS session) each."""

    failed: Callable[[str], None] = staticmethod(lambda method: None)

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.connections = Connections(self.timeout, self.ssl)

    def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> Any:
        _call.ends = time.monotonic() + self.timeout  # the whole call, retries included
        try:
            return super().api_call(api_method, *args, **kwargs)
        except Exception:
            self.failed(api_method)
            raise
        finally:
            _call.ends = None

    def _perform_urllib_http_request_internal(self, url: str, req: Request) -> dict[str, Any]:
        # What slack_sdk's own method does with urlopen (its caller reads HTTPError the same
        # way), on a kept-alive connection; through a proxy (or with a body slack_sdk never
        # builds), it is left to urllib.
        data = req.data
        kept = self.proxy is None and url.lower().startswith(("http://", "https://"))
        if not kept or not (data is None or isinstance(data, bytes)):
            return super()._perform_urllib_http_request_internal(url, req)
        answer = self.connections.post(url, data, req.header_items(), within=_left())
        if not 200 <= answer.status < 300:
            raise as_http_error(url, answer)
        if answer.headers.get_content_type() == "application/gzip":
            return {"status": answer.status, "headers": answer.headers, "body": answer.body}
        charset = answer.headers.get_content_charset() or "utf-8"
        body = answer.body.decode(charset)
        return {"status": answer.status, "headers": answer.headers, "body": body}


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


def _method(url: str) -> str:
    return url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]


def _may_have_happened(method: str, status: int, error: object) -> bool:
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
    return _may_have_happened(_method(response.api_url), response.status_code, error)


def not_done(exc: BaseException) -> bool:
    """Slack answered with an error (ok: false, or a 5xx/429 past the client's own retries)
    that says the call did nothing, so an effect may be tried again (the effect ledger's
    ``retryable``); see :func:`uncertain` for the answers that do not say so."""
    return isinstance(exc, SlackApiError) and not uncertain(exc)


def _fits(method: str, wait: float) -> bool:
    """Whether a call tried again after ``wait`` seconds is still within its time
    (``SLACK_TIMEOUT``, for all its tries). A call that is not repeatable (``SENT_ONCE``) gets
    the whole time again instead: cut off, a post Slack said it never made would be "outcome
    unknown", never posted again."""
    if method in SENT_ONCE:
        _call.ends = None
        return True
    return wait < _left()


class _ServerErrorRetry(RetryHandler):
    """Sends a call again after a 5xx, unless it is not repeatable and Slack may have carried it
    out (:func:`uncertain`): then the caller hears the error at once; nor once the call's time
    (``SLACK_TIMEOUT``, for all its tries) would be up before it is sent again, unless it is
    not repeatable (``SENT_ONCE``): cut off, its outcome would be unknown."""

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code < 500:
            return False
        error_code = (response.body or {}).get("error")
        method = _method(request.url)
        if _may_have_happened(method, response.status_code, error_code):
            return False
        wait = self.interval_calculator.calculate_sleep_duration(state.current_attempt)
        if not _fits(method, wait):
            return False
        state.custom_values = {**(state.custom_values or {}), "wait": wait}
        return True

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        state.next_attempt_requested = True
        time.sleep((state.custom_values or {}).pop("wait", 0.0))  # as checked to fit
        state.increment_current_attempt()


class _RateLimitRetry(RateLimitErrorRetryHandler):
    """Slack's 429, tried again after its ``Retry-After``, but only while the waits of one call
    stay within ``budget`` seconds (``SLACK_TIMEOUT``): a ``Retry-After`` of minutes, slept up to
    five times, held a listener, a worker or the tick that long. Past the budget the caller
    hears the 429 (a card post and a job back off and try again on their own)."""

    def __init__(self, budget: float, max_retry_count: int = 5) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.budget = budget

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if response is None or response.status_code != 429:
            return False
        slept = (state.custom_values or {}).get("slept", 0.0)
        wait = _retry_after(response) + 1  # + its up to 1 s of jitter
        return slept + wait <= self.budget and _fits(_method(request.url), wait)

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is not None:
            state.custom_values = state.custom_values or {}
            slept = state.custom_values.get("slept", 0.0)
            state.custom_values["slept"] = slept + _retry_after(response) + 1
        super().prepare_for_next_attempt(
            state=state, request=request, response=response, error=error
        )


def _retry_after(response: HttpResponse) -> float:
    """The seconds a 429 asks to wait (slack_sdk's reading: 1 when it does not say)."""
    for name, values in response.headers.items():
        if name.lower() == "retry-after":
            try:
                return float(values[0])
            except (IndexError, TypeError, ValueError):
                return 1.0
    return 1.0


def refusal(exc: BaseException) -> str | None:
    """Slack's error code when ``exc`` is a permanent refusal of a post (see ``REFUSALS``)."""
    if not isinstance(exc, SlackApiError):
        return None
    error = exc.response.get("error") if exc.response is not None else None
    return str(error) if error in REFUSALS else None


def make_client(
    token: str,
    base_url: str,
    timeout: int = 15,
    failed: Callable[[str], None] | None = None,
    retry_server_errors: bool = True,
    tls: ssl.SSLContext | None = None,
) -> WebClient:
    """``failed`` hears the method of every call that fails (for the metrics);
    ``retry_server_errors=False``: a 5xx is the caller's to retry (card posts back off on their
    own, so one card's failing channel never holds up the next card's post); ``tls``: the
    certificates to trust (default: the system's, or ``SSL_CERT_FILE``)."""
    # Retried here: 429 (honouring Retry-After) and a 5xx that leaves nothing twice (any call
    # answered 503; a repeatable call, such as chat.update, answered any 5xx). Not a dropped
    # connection, which slack_sdk's WebClient retries by default, nor a post answered 500:
    # chat.postMessage is not idempotent, and Slack may have posted before it failed. The
    # bot's own sweeps retry what certainly failed; the effect ledger records the rest as
    # unknown.
    client = _Counted(token=token, base_url=base_url, timeout=timeout, retry_handlers=[], ssl=tls)
    if failed is not None:
        client.failed = failed
    client.retry_handlers.append(_RateLimitRetry(budget=timeout))
    if retry_server_errors:
        client.retry_handlers.append(_ServerErrorRetry(max_retry_count=3))
    return client


class Slack:
    def __init__(self, client: WebClient, cards: WebClient | None = None) -> None:
        """``cards``: the client that posts approval cards (default ``client``)."""
        self.client = client
        self.cards = cards or client

    def post_card(
        self,
        approval: Approval,
        notes: tuple[str, ...] = (),
        progress: tuple[str, ...] = (),
        edit: Decision | None = None,
        channel: str | None = None,
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        """Post a pending card in ``channel`` (a later round of a run: in ``thread_ts``, the
        thread of its first card); by default where the request says, in its thread."""
        response = self.cards.chat_postMessage(
            channel=channel or approval.channel,
            thread_ts=thread_ts if channel else approval.thread_ts,
            text=card.summary_text(approval),
            blocks=card.pending_card(approval, notes, progress, edit),
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["channel"]), str(response["ts"])

    def refresh_card(
        self,
        approval: Approval,
        notes: tuple[str, ...] = (),
        progress: tuple[str, ...] = (),
        edit: Decision | None = None,
        at: tuple[str, str] | None = None,
    ) -> None:
        """Redraw a posted card (``at``: this copy of it, a channel and ts): pending with its
        deadline notes and sign-off so far, or decided."""
        channel, ts = at or (approval.channel, approval.ts)
        if ts is None:
            return
        if approval.pending:
            blocks = card.pending_card(approval, notes, progress, edit)
        else:
            blocks = card.decided_card(approval, progress)
        self.client.chat_update(
            channel=channel, ts=ts, text=card.summary_text(approval), blocks=blocks
        )

    def retire_copy(self, channel: str, ts: str, link: str | None) -> None:
        """Strip the buttons from an out-of-date copy of a card."""
        where = f"<{link}|the current card>" if link else "the newest card for it"
        text = f"This copy of the request is out of date: decide it on {where}."
        self.client.chat_update(
            channel=channel,
            ts=ts,
            text=text,
            blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": text}}],
        )

    def tell(self, channel: str, user: str, text: str) -> None:
        """An ephemeral note only ``user`` sees; ``text`` is trusted (built by us)."""
        self.client.chat_postEphemeral(channel=channel, user=user, text=text)

    def dm(self, user: str, text: str) -> str:
        """Our own text (already safe) to ``user`` in the bot's direct messages with them."""
        text, _ = cut_escaped(text, MESSAGE_LIMIT)
        return str(self.client.chat_postMessage(channel=user, text=text)["ts"])

    def open_dm(self, user: str) -> str:
        """The id (D…) of the app's direct-message conversation with ``user`` (``im:write``)."""
        response = self.client.conversations_open(users=user)
        return str(response["channel"]["id"])

    def reply(
        self,
        channel: str,
        thread_ts: str | None,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
    ) -> str:
        """Post our own text, which may quote untrusted text already escaped by the caller."""
        text, _ = cut_escaped(text, MESSAGE_LIMIT)
        response = self.client.chat_postMessage(
            channel=channel, thread_ts=thread_ts, text=text, blocks=blocks, unfurl_links=False
        )
        return str(response["ts"])

    def respond(self, response_url: str, text: str) -> None:
        """Answer a slash command on its ``response_url``, seen only by who typed it, within
        ``SLACK_TIMEOUT`` as a whole, on the client's kept-alive connections (Bolt's ``respond``
        gives each read 30 s and the whole call no limit: a trickling answer held the listener
        for as long as it liked)."""
        connections = getattr(self.client, "connections", None)
        if not isinstance(connections, Connections):
            connections = Connections(float(self.client.timeout))
        body = json.dumps({"text": text, "response_type": "ephemeral"}).encode()
        answer = connections.post(response_url, body, [("Content-Type", "application/json")])
        if answer.status >= 300:
            raise RuntimeError(f"the response_url answered {answer.status}")

    def post_text(self, channel: str, untrusted: str) -> str:
        """Post agent-written text as a message of its own; used by the post_message action."""
        ts = self._in_pieces(_pieces(escape(untrusted)), channel)
        # Plain words, no <#C…> link: graphs quote this in reports, which are escaped as untrusted.
        return f"Posted to {channel} (message {ts})"

    def reply_in_full(self, channel: str, thread_ts: str | None, text: str) -> str:
        """Like :meth:`reply` (``text`` already safe), but all of it: text longer than a message
        holds goes in several, one after the other, rather than cut."""
        return self._in_pieces(_pieces(text), channel, thread_ts=thread_ts, unfurl_links=False)

    def _in_pieces(self, pieces: list[str], channel: str, **where: Any) -> str:
        """Post each piece in turn; the last one's ``ts``. A failure after the first piece is
        :class:`OutcomeUnknown`: posting again would repeat what is there."""
        ts = ""
        for number, piece in enumerate(pieces):
            try:
                ts = str(self.client.chat_postMessage(channel=channel, text=piece, **where)["ts"])
            except Exception as exc:
                if number == 0:
                    raise  # nothing posted yet: what the error says of the post is the truth
                # Some parts are in the channel: trying the post again would repeat them.
                raise OutcomeUnknown(
                    f"posted {number} of {len(pieces)} parts to {channel}, then {_said(exc)}; "
                    "the rest was not posted, and nothing is posted again"
                ) from exc
        return ts

    def permalink(self, channel: str, ts: str) -> str | None:
        try:
            return str(self.client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"])
        except Exception:
            logger.exception("chat.getPermalink failed")
            return None

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.client.views_open(trigger_id=trigger_id, view=view)

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        self.client.views_publish(user_id=user, view=view)

    def group_members(self, group: str) -> list[str]:
        return list(self.client.usergroups_users_list(usergroup=group)["users"])

    def member_of(self, channel: str, user: str) -> bool:
        """Whether ``user`` is in ``channel``: conversations.members, page by page until found.
        False for a conversation the bot cannot see (a private channel it is not in says
        ``channel_not_found``). Every page is one call bounded by the client's deadline
        (SLACK_TIMEOUT), and no page starts once that deadline has passed since the first:
        TimeoutError then, as for a channel too large to read (``MEMBER_PAGES``)."""
        ends = time.monotonic() + self.client.timeout
        cursor: str | None = None
        for _ in range(MEMBER_PAGES):
            try:
                page = self.client.conversations_members(
                    channel=channel, limit=MEMBER_PAGE, cursor=cursor
                )
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else None
                if error in UNSEEN:
                    return False
                if error in UNGRANTED:
                    raise NotGranted(f"conversations.members needs {MEMBER_SCOPES}") from None
                raise
            if user in (page.get("members") or []):
                return True
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if cursor is None:
                return False
            if time.monotonic() > ends:
                break
        raise TimeoutError(f"could not read all the members of {channel} in time")


def _said(exc: Exception) -> str:
    """What went wrong with a call, in a few words."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        data = exc.response.data
        error = data.get("error") if isinstance(data, dict) else None
        return f"Slack answered {error or exc.response.status_code}"
    return f"the call failed ({type(exc).__name__})"


def _pieces(text: str) -> list[str]:
    return chunks(text, MESSAGE_LIMIT) if text else ["(empty message)"]
