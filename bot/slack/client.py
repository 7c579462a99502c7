"""Every Slack Web API call the engine makes, in one place. Callers pass records, not JSON."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)

from bot.domain.models import Approval, Decision
from bot.slack.blocks import card
from bot.slack.blocks.text import chunks, cut_escaped, escape

logger = logging.getLogger(__name__)
MESSAGE_LIMIT = 3900


class _Counted(WebClient):
    """A WebClient that reports every call that fails (Slack said no, or never answered)."""

    failed: Callable[[str], None] = staticmethod(lambda method: None)

    def api_call(self, api_method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().api_call(api_method, *args, **kwargs)
        except Exception:
            self.failed(api_method)
            raise


# Slack's answers to chat.postMessage that the same post would get again, whenever it is tried:
# the conversation does not exist for the bot (a DM between people, a private channel), the bot
# is not in it, it is archived, or the blocks are not valid.
REFUSALS = frozenset(
    {"channel_not_found", "not_in_channel", "is_archived", "invalid_blocks", "msg_blocks_too_long"}
)


# Slack answered with an error (ok: false, or 5xx/429 past slack_sdk's own retries): the call
# did nothing, so an effect may be tried again (bot.core.ledger.Ledger's ``retryable``).
NOT_DONE: tuple[type[BaseException], ...] = (SlackApiError,)


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
) -> WebClient:
    """``failed`` hears the method of every call that fails (for the metrics);
    ``retry_server_errors=False``: a 5xx is the caller's to retry (card posts back off on their
    own, so one card's failing channel never holds up the next card's post)."""
    # Retried here: 429 (honouring Retry-After) and 5xx, where Slack said it did nothing. Not a
    # dropped connection, which slack_sdk's WebClient retries by default: chat.postMessage is
    # not idempotent, and a connection cut after Slack posted would post twice. The bot's own
    # sweeps retry what certainly failed; the effect ledger records the rest as unknown.
    client = _Counted(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])
    if failed is not None:
        client.failed = failed
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=5))
    if retry_server_errors:
        client.retry_handlers.append(ServerErrorRetryHandler(max_retry_count=3))
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

    def post_text(self, channel: str, untrusted: str) -> str:
        """Post agent-written text as a message of its own; used by the post_message action."""
        ts = ""
        for piece in _pieces(escape(untrusted)):
            ts = str(self.client.chat_postMessage(channel=channel, text=piece)["ts"])
        # Plain words, no <#C…> link: graphs quote this in reports, which are escaped as untrusted.
        return f"Posted to {channel} (message {ts})"

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


def _pieces(text: str) -> list[str]:
    return chunks(text, MESSAGE_LIMIT) if text else ["(empty message)"]
