"""The App Home tab: the requests waiting for a decision."""

from __future__ import annotations

from typing import Any

from bot.blocks import card
from bot.blocks.text import escape, safe
from bot.models import Approval

MAX_LISTED = 15


def home_view(pending: list[Approval]) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Waiting for approval"}},
    ]
    if not pending:
        blocks.append(_section("Nothing is waiting. Start a run with `/agent <request>`."))
    for approval in pending[:MAX_LISTED]:
        request, _ = safe(approval.request, 300)
        kind = card.kind_of(approval, approval.graph)
        blocks.append(
            _section(
                f"*{escape(str(kind)).capitalize()}* for <@{approval.requester}> in "
                f"<#{approval.channel}>, since {card.when(approval.created_at)}\n"
                f"{request}"
            )
        )
        blocks.append(card.pending_card(approval)[-1])
    if len(pending) > MAX_LISTED:
        blocks.append(_section(f"…and {len(pending) - MAX_LISTED} more."))
    return {"type": "home", "blocks": blocks}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}
