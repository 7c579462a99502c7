"""Every Slack Web API call the engine makes, in one place. Callers pass records, not JSON.
The calls go through :mod:`bot.slack.web_client`; what their errors mean is
:mod:`bot.slack.errors`."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.domain.models import Approval, Decision
from bot.slack.blocks import card
from bot.slack.blocks.proposals import summary_text
from bot.slack.blocks.text import chunks, cut_escaped, escape
from bot.slack.errors import NotGranted, said
from bot.slack.keepalive import Connections
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
            text=summary_text(approval),
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
        self.client.chat_update(channel=channel, ts=ts, text=summary_text(approval), blocks=blocks)

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

    def tell_or_dm(self, channel: str, user: str, text: str) -> None:
        """:meth:`tell`; where Slack will not show ``user`` an ephemeral in ``channel`` (they
        are not in it: a click on someone else's DM copy, or on App Home about a card there),
        in their own DM with the app instead: never nothing."""
        try:
            self.tell(channel, user, text)
        except SlackApiError as exc:
            if exc.response.get("error") not in ("user_not_in_channel", "channel_not_found"):
                raise
            self.dm(user, text)

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
                    f"posted {number} of {len(pieces)} parts to {channel}, then {said(exc)}; "
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


def _pieces(text: str) -> list[str]:
    return chunks(text, MESSAGE_LIMIT) if text else ["(empty message)"]
