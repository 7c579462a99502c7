"""The approval card: pending (with buttons) and decided (who, what, when)."""

from __future__ import annotations

import time
from typing import Any

from bot.blocks.text import cut_escaped, quote, safe
from bot.models import Approval

APPROVE, EDIT, REJECT, VIEW_FULL = (
    "approval.approve",
    "approval.edit",
    "approval.reject",
    "approval.view_full",
)
RISK_BADGE = {"low": "🟢 Low", "medium": "🟠 Medium", "high": "🔴 High"}
REQUEST_LIMIT = 500
PARAMS_LIMIT = 2800

Block = dict[str, Any]


def when(epoch: float) -> str:
    """A Slack date token: each reader sees their own time zone; the fallback is UTC."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
    return f"<!date^{int(epoch)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def _mrkdwn(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": t, "verbatim": True} for t in texts[:10]],
    }


def summary_text(approval: Approval) -> str:
    """Notification fallback: short, and with no untrusted text in it."""
    kind = approval.payload.get("kind", "request")
    return f"Approval needed: {kind} requested by <@{approval.requester}>"


def proposal_blocks(approval: Approval, text_override: str | None = None) -> list[Block]:
    """What the agent proposes; ``text_override`` shows an edited draft instead."""
    payload = approval.payload
    request, _ = safe(approval.request, REQUEST_LIMIT)
    blocks: list[Block] = [_mrkdwn(f"*<@{approval.requester}> asked:* {request}")]
    if payload.get("kind") == "draft":
        draft = text_override if text_override is not None else str(payload.get("draft", ""))
        body, cut = quote(draft)
        blocks.append(_mrkdwn(body if draft.strip() else "_(empty draft)_"))
        if cut:
            blocks.append(
                _context(
                    f"Draft shortened for the card: {len(draft):,} characters in all. "
                    "Use *View full text* to read all of it."
                )
            )
    elif payload.get("kind") == "action":
        action, _ = safe(str(payload.get("action_type")), 200)
        risk = RISK_BADGE.get(str(payload.get("risk_level")), "🔴 High")
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*Action*\n`{action}`"},
                    {"type": "mrkdwn", "text": f"*Risk*\n{risk}"},
                ],
            }
        )
        description, _ = safe(str(payload.get("description", "")), 1000)
        blocks.append(_mrkdwn(description or "_(no description)_"))
        params = dict(payload.get("parameters") or {})
        lines = [f"*{safe(k, 100)[0]}*: {safe(str(v), PARAMS_LIMIT)[0]}" for k, v in params.items()]
        text, _ = cut_escaped("\n".join(lines) or "_(no parameters)_", PARAMS_LIMIT)
        blocks.append(_mrkdwn(text))
    else:
        blocks.append(_mrkdwn(safe(str(payload), PARAMS_LIMIT)[0]))
    return blocks


def is_long(approval: Approval) -> bool:
    """True when the card cannot show the whole draft."""
    draft = approval.payload.get("draft")
    return isinstance(draft, str) and quote(draft)[1]


def pending_card(approval: Approval, notes: tuple[str, ...] = ()) -> list[Block]:
    buttons: list[Block] = [
        _button("Approve", APPROVE, approval.id, "primary"),
        _button("Edit", EDIT, approval.id),
        _button("Reject", REJECT, approval.id, "danger"),
    ]
    if is_long(approval):
        buttons.append(_button("View full text", VIEW_FULL, approval.id))
    return [
        {"type": "header", "text": {"type": "plain_text", "text": _title(approval)}},
        *proposal_blocks(approval),
        _context(f"Run `{approval.thread_id[:8]}`", *notes),
        {"type": "actions", "block_id": f"decide:{approval.id}", "elements": buttons},
    ]


def decided_card(approval: Approval) -> list[Block]:
    decision = approval.decision
    edited_text = decision.text if decision and decision.type == "edit" else None
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _title(approval)}},
        *proposal_blocks(approval, edited_text),
        _mrkdwn(outcome_line(approval)),
    ]
    if is_long(approval) and edited_text is None:
        blocks.append(
            {
                "type": "actions",
                "block_id": f"read:{approval.id}",
                "elements": [_button("View full text", VIEW_FULL, approval.id)],
            }
        )
    return blocks


def outcome_line(approval: Approval) -> str:
    """ "Approved by @x at 14:02" and its siblings; also used for late-click refusals."""
    d = approval.decision
    at = when(approval.decided_at or 0)
    by = f"<@{approval.decided_by}>"
    if approval.status == "approved":
        return f"✅ *Approved* by {by} at {at}"
    if approval.status == "edited":
        return f"✏️ *Edited and approved* by {by} at {at}"
    if approval.status == "rejected":
        reason = f": {safe(d.reason, 1000)[0]}" if d and d.reason else ""
        return f"❌ *Rejected* by {by} at {at}{reason}"
    if approval.status == "expired":
        reason = safe(d.reason, 300)[0] if d and d.reason else "expired"
        return f"⌛ *{reason}* ({at})"
    return "⏳ Waiting for a decision"


def _title(approval: Approval) -> str:
    kind = approval.payload.get("kind")
    if kind == "draft":
        return "📝 Draft waiting for approval"
    if kind == "action":
        return "⚙️ Action waiting for approval"
    return f"Approval needed: {approval.graph}"[:150]


def _button(text: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "text": {"type": "plain_text", "text": text},
        "action_id": action_id,
        "value": value,
    }
    if style:
        button["style"] = style
    return button
