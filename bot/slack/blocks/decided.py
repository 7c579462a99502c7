"""How a decided request reads: "Approved by @x at 14:02" and its siblings, on the decided card
and in every late click's refusal, and a batch's decision call by call."""

from __future__ import annotations

import time
from collections import Counter

from bot.domain.models import Approval, Decision
from bot.slack.blocks.proposals import MAX_PROPOSALS, review_of
from bot.slack.blocks.text import safe

_ITEM_WORDS = {
    "approve": "approved",
    "edit": "edited",
    "reject": "rejected",
    "respond": "answered",
    "ignore": "ignored",
}


def people(users: list[str] | tuple[str, ...]) -> str:
    """ "<@a>", "<@a> and <@b>", "<@a>, <@b> and <@c>" """
    names = [f"<@{u}>" for u in users]
    return " and ".join(names) if len(names) <= 2 else f"{', '.join(names[:-1])} and {names[-1]}"


def when(epoch: float) -> str:
    """A Slack date token: each reader sees their own time zone; the fallback is UTC."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
    return f"<!date^{int(epoch)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def item_lines(decision: Decision) -> str:
    """A batch decided call by call: "1. approved  2. rejected: not this one"; past the
    card's ten calls, how the rest were decided, counted: "…and 5 more: 4 approved, 1 rejected"."""
    items = decision.items or []
    lines = [
        f"{i + 1}. {_item_word(item)}" + (f": {item['message']}" if item.get("message") else "")
        for i, item in enumerate(items[:MAX_PROPOSALS])
    ]
    rest = Counter(_item_word(item) for item in items[MAX_PROPOSALS:])
    more = ", ".join(f"{n} {word}" for word, n in rest.items())
    note = safe(f"  …and {rest.total()} more: {more}", 400)[0] if rest else ""
    return safe("  ".join(lines), 1900 - len(note))[0] + note


def _item_word(item: dict[str, object]) -> str:
    return _ITEM_WORDS.get(str(item.get("type")), str(item.get("type")))


# What a person did, said as it is, with who and when (no reason or message of its own).
_DONE_BY = {
    "approved": "✅ *Approved*",
    "edited": "✏️ *Edited and approved*",
    "ignored": "🙈 *Ignored*",
    "answered": "📝 *Answered*",
}


def outcome_line(approval: Approval) -> str:
    """ "Approved by @x at 14:02" and its siblings; also used for late-click refusals."""
    d = approval.decision
    at = when(approval.decided_at or 0)
    by = f"<@{approval.decided_by}>"
    if approval.status in ("approved", "edited", "decided", "answered") and d and d.approvers:
        by = people(d.approvers)
    if approval.status == "approved" and d and d.rule is not None:
        if d.via == "rule":  # no person clicked: a remembered approval answered it
            return f"✅ *Approved* by rule #{d.rule} (made by {by}) at {at}"
        return f"✅ *Approved* by {by} at {at}, and remembered as rule #{d.rule}"
    if approval.status in _DONE_BY:
        return f"{_DONE_BY[approval.status]} by {by} at {at}"
    if approval.status == "rejected":
        reason = f": {safe(d.reason, 1000)[0]}" if d and d.reason else ""
        return f"❌ *Rejected* by {by} at {at}{reason}"
    if approval.status == "expired":
        reason = safe(d.reason, 300)[0] if d and d.reason else "expired"
        return f"⌛ *{reason}* ({at})"
    if approval.status == "responded":
        message = f": {safe(d.message, 1000)[0]}" if d and d.message else ""
        return f"💬 *Answered* by {by} at {at}{message}"
    if approval.status == "cancelled":
        return f"🚫 *Cancelled* by {by} at {at}: the run was cancelled, nothing more runs"
    if approval.status == "failed":  # bot.slack.card_posts: Slack refused its card for good
        return "⚠️ *Not posted*: Slack refused this request's card, so its run was closed as failed"
    if approval.status == "decided":
        label = _choice_label(approval)
        notes = f": {safe(d.message, 1000)[0]}" if d and d.message else ""
        return f"☑️ *{label}* by {by} at {at}{notes}"
    return "⏳ Waiting for a decision"


def _choice_label(approval: Approval) -> str:
    decision = approval.decision
    if decision is None or decision.items:
        return "Decided"
    for extra in review_of(approval).extra:
        if extra.name == decision.type:
            return safe(extra.label, 75)[0]
    return "Decided"
