"""The approval card: pending (with the buttons its review allows) and decided (who, what,
when). It renders what an adapter described (:class:`bot.domain.review.Review`) and nothing else."""

from __future__ import annotations

import time
from typing import Any

from bot.domain.models import Approval, Decision
from bot.domain.review import Proposal, Review
from bot.slack.blocks.text import cut_escaped, escape, literal, one_line, quote, safe

APPROVE, EDIT, REJECT, VIEW_FULL = (
    "approval.approve",
    "approval.edit",
    "approval.reject",
    "approval.view_full",
)
RESPOND, IGNORE, ANSWER, EACH = (
    "approval.respond",
    "approval.ignore",
    "approval.answer",
    "approval.each",
)
CHOICE_PREFIX = "approval.choice:"  # + a settings button's name
REMEMBER = "approval.remember"  # "Approve, and don't ask again for …"; <request>:<version>:<s>
PLACEHOLDER = "Approve, and don't ask again for…"
_UNITS = ((86400, "day"), (3600, "hour"), (60, "minute"))
BUTTONS = {
    "approve": ("Approve", APPROVE, "primary"),
    "edit": ("Edit", EDIT, None),
    "respond": ("Respond", RESPOND, None),
    "answer": ("Answer…", ANSWER, "primary"),
    "ignore": ("Ignore", IGNORE, None),
    "reject": ("Reject", REJECT, "danger"),
}
RISK_BADGE = {"low": "🟢 Low", "medium": "🟠 Medium", "high": "🔴 High"}
REQUEST_LIMIT = 500
PARAMS_LIMIT = 2800
CARD_TEXT_BUDGET = 9000  # for all proposals together
MAX_PROPOSALS = 10  # keeps a card far below Slack's 50 blocks
TOO_LONG_AT_ONCE = "Too long to read in full in one place: decide each call with *Review each*."

Block = dict[str, Any]


def people(users: list[str] | tuple[str, ...]) -> str:
    """ "<@a>", "<@a> and <@b>", "<@a>, <@b> and <@c>" """
    names = [f"<@{u}>" for u in users]
    return " and ".join(names) if len(names) <= 2 else f"{', '.join(names[:-1])} and {names[-1]}"


def when(epoch: float) -> str:
    """A Slack date token: each reader sees their own time zone; the fallback is UTC."""
    fallback = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))
    return f"<!date^{int(epoch)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def trace_link(url: str) -> str:
    """A link to a LangSmith trace (its address is ours: no user text in it)."""
    return f":mag: <{url}|View the trace>"


def _mrkdwn(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _context(*texts: str) -> Block:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": t, "verbatim": True} for t in texts[:10]],
    }


def review_of(approval: Approval) -> Review:
    return approval.review or Review("plain", f"Approval needed: {approval.graph}", ())


def kind_of(approval: Approval, default: str = "request") -> str:
    """What is waiting, in a word: draft, action, tool call, request."""
    return review_of(approval).summary or default


def summary_text(approval: Approval) -> str:
    """Notification fallback: short, and with no untrusted text in it."""
    return f"Approval needed: {with_article(kind_of(approval))} for <@{approval.requester}>"


def with_article(kind: str) -> str:
    """``a draft``, ``an action``: what is waiting, as a sentence names it."""
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"


def _details(
    proposal: Proposal, shown: dict[str, Any] | None, limit: int = PARAMS_LIMIT
) -> tuple[Block | None, bool]:
    """The proposal's parameters as one block, and whether the card had to shorten them."""
    values = shown if shown is not None else dict(proposal.details)
    if not values:
        return None, False
    cut = False
    lines = []
    for k, v in values.items():
        key, key_cut = one_line(str(k), 100)
        value, shortened = literal(v if isinstance(v, str) else str(v), limit)
        cut |= shortened or key_cut
        lines.append(f"*{key}*: {value}")
    text, shortened = cut_escaped("\n".join(lines), limit)
    return _mrkdwn(text), cut or shortened


def arguments_block(
    proposal: Proposal, edited: dict[str, Any] | None = None, limit: int = PARAMS_LIMIT
) -> tuple[Block | None, bool]:
    """The proposal's arguments as the card shows them (as proposed, or as ``edited`` leaves
    them), in at most ``limit`` characters, and whether they had to be shortened."""
    shown = proposal.as_edited(edited) if edited is not None else None
    return _details(proposal, shown, limit)


def _limits(review: Review) -> tuple[int, int]:
    """How much of one proposal's description and parameters a card shows: Slack refuses a
    message whose blocks hold more than about 13k characters in all, so a batch shares a budget
    ("Review each" and "View full text" show the rest)."""
    share = max(300, CARD_TEXT_BUDGET // max(1, len(review.proposals[:MAX_PROPOSALS])))
    return min(1000, share // 3), min(PARAMS_LIMIT, share - share // 3)


def _shortened(review: Review) -> bool:
    """Whether the card leaves out part of what the agent proposes (not a draft's text)."""
    if len(review.proposals) > MAX_PROPOSALS:
        return True
    about, params = _limits(review)
    return any(
        safe(proposal.description, about)[1] or _details(proposal, None, params)[1]
        for proposal in review.proposals
    )


def _proposal_blocks(
    review: Review, proposal: Proposal, index: int, edited: dict[str, Any] | None
) -> list[Block]:
    blocks: list[Block] = []
    if review.shape == "draft":
        draft = _shown_draft(proposal, edited)
        body, cut = quote(draft)
        blocks.append(_mrkdwn(body if draft.strip() else "_(empty draft)_"))
        if cut:
            blocks.append(
                _context(
                    f"Draft shortened for the card: {len(draft):,} characters in all. "
                    "Use *View full text* to read all of it."
                )
            )
        return blocks
    title, _ = one_line(proposal.title, 200)
    number = f"{index + 1}. " if len(review.proposals) > 1 else ""
    if proposal.risk is not None:
        risk = RISK_BADGE.get(proposal.risk, "🔴 High")
        blocks.append(
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": f"*{number}Action*\n`{title}`"},
                    {"type": "mrkdwn", "text": f"*Risk*\n{risk}"},
                ],
            }
        )
    elif review.shape != "plain" or number:
        blocks.append(_mrkdwn(f"*{number}`{title}`*"))
    about, params = _limits(review)
    description, cut = safe(proposal.description, about)
    if description or proposal.risk is not None:
        blocks.append(_mrkdwn(description or "_(no description)_"))
    shown = proposal.as_edited(edited) if edited is not None else None
    details, shortened = _details(proposal, shown, params)
    if details is not None:
        blocks.append(details)
    elif proposal.risk is not None:
        blocks.append(_mrkdwn("_(no parameters)_"))
    if cut or shortened:  # the card then offers the version it shows in full (is_long)
        blocks.append(_context("Shortened for the card. Use *View full text* to read all of it."))
    return blocks


def proposal_blocks(approval: Approval, edits: list[dict[str, Any] | None] | None = None):
    """What the agent proposes; ``edits`` shows each proposal's edited values instead."""
    review = review_of(approval)
    request, _ = safe(approval.request, REQUEST_LIMIT)
    blocks: list[Block] = [_mrkdwn(f"*<@{approval.requester}> asked:* {request}")]
    for index, proposal in enumerate(review.proposals[:MAX_PROPOSALS]):
        edited = edits[index] if edits and index < len(edits) else None
        blocks.extend(_proposal_blocks(review, proposal, index, edited))
    hidden = len(review.proposals) - MAX_PROPOSALS
    if hidden > 0:
        blocks.append(_context(f"…and {hidden} more; use *Review each* to see them all."))
    return blocks


def _shown_draft(proposal: Proposal, edited: dict[str, Any] | None) -> str:
    if edited is None:  # as proposed ({} is an edit that emptied every field)
        return proposal.description
    return str(edited.get("text", proposal.description))


def _edited(edits: list[dict[str, Any] | None] | None) -> bool:
    """Whether any proposal is shown as edited ({} too: an edit that emptied every field)."""
    return any(edit is not None for edit in edits or ())


def _edit_of(edits: list[dict[str, Any] | None] | None, index: int) -> dict[str, Any] | None:
    return edits[index] if edits and index < len(edits) else None


def is_long(approval: Approval, edits: list[dict[str, Any] | None] | None = None) -> bool:
    """True when the card cannot show everything the reviewer should read of the version it
    shows: as proposed, or as ``edits`` leave it (an edit others are asked to sign, or the one
    decided). Then it offers "View full text" (:func:`full_text`)."""
    review = review_of(approval)
    if safe(approval.request, REQUEST_LIMIT)[1]:
        return True
    if not _edited(edits):
        if review.shape == "draft":
            return isinstance(review.long_text, str) and quote(review.long_text)[1]
        return len(review.long_text or "") > 2000 or _shortened(review)
    if review.shape == "draft":
        return any(
            quote(_shown_draft(proposal, _edit_of(edits, index)))[1]
            for index, proposal in enumerate(review.proposals)
        )
    if len(review.proposals) > MAX_PROPOSALS:
        return True
    about, params = _limits(review)
    for index, proposal in enumerate(review.proposals):
        edited = _edit_of(edits, index)
        shown = proposal.as_edited(edited) if edited is not None else None
        if safe(proposal.description, about)[1] or _details(proposal, shown, params)[1]:
            return True
    return False


def full_text(approval: Approval, edits: list[dict[str, Any] | None] | None = None) -> str:
    """What "View full text" shows: the whole of the version the card shows (as proposed, or
    as ``edits`` leave it, by default as decided), and of whatever else the card shortened: the
    request, a call's description."""
    review = review_of(approval)
    edits = edits if _edited(edits) else _edits(approval)
    parts: list[str] = []
    if safe(approval.request, REQUEST_LIMIT)[1]:
        parts.append(f"Request:\n{approval.request}")
    if not _edited(edits) and review.long_text:
        parts.append(review.long_text)
    elif review.shape == "draft":
        parts.extend(
            _shown_draft(proposal, _edit_of(edits, index))
            for index, proposal in enumerate(review.proposals)
        )
    else:
        parts.append(review.calls_text(edits))
    about, _ = _limits(review)
    several = len(review.proposals) > 1
    for index, proposal in enumerate(review.proposals):
        if review.shape != "draft" and (
            index >= MAX_PROPOSALS or safe(proposal.description, about)[1]
        ):
            number = f"{index + 1}. " if several else ""
            parts.append(f"What {number}{proposal.title} does:\n{proposal.description}")
    return "\n\n\n".join(part for part in parts if part)


def readable_at_once(approval: Approval, edit: Decision | None = None) -> bool:
    """Whether one Approve may answer every call of a batch: only when all of it, as the card
    shows it (with the edit that stands, ``edit``), can be read in full behind "View full text"
    (:meth:`~bot.domain.review.Review.approvable_at_once`, which every door asks)."""
    edits = _edits(approval, edit) if edit is not None else None
    return review_of(approval).approvable_at_once(edits)


def buttons_for(approval: Approval, edit: Decision | None = None) -> list[Block]:
    """The card's buttons, each carrying the request and the version it shows (a click on a
    card showing an older version is refused). ``edit``: a standing edit the others are
    asked to sign, with an Approve button even where the review offers none (an answer)."""
    review = review_of(approval)
    value = button_value(approval)
    buttons: list[Block] = []
    if len(review.proposals) == 1:
        choices = review.proposals[0].choices
        if edit is not None and "approve" not in choices:
            choices = ("approve", *choices)
        for choice in choices:
            if choice in BUTTONS:
                text, action_id, style = BUTTONS[choice]
                if choice == "approve" and edit is not None:
                    text = "Approve this version"
                buttons.append(_button(text, action_id, value, style))
                if choice == "approve" and edit is None and review.remember:
                    buttons.append(remember_menu(approval))
    elif review.proposals:
        common = review.choices()
        if ("approve" in common or edit is not None) and readable_at_once(approval, edit):
            text = "Approve as edited" if edit is not None else "Approve all"
            buttons.append(_button(text, APPROVE, value, "primary"))
        buttons.append(_button("Review each…", EACH, value))
        if "reject" in common:
            buttons.append(_button("Reject all", REJECT, value, "danger"))
    for extra in review.extra:
        buttons.append(_button(extra.label, CHOICE_PREFIX + extra.name, value))
    if is_long(approval, _edits(approval, edit)):
        buttons.append(_button("View full text", VIEW_FULL, value))
    return buttons


def duration_words(seconds: int) -> str:
    """3600 -> "1 hour", 28800 -> "8 hours", 5400 -> "90 minutes"."""
    for size, unit in _UNITS:
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"


def option_value(approval: Approval, seconds: int) -> str:
    return f"{approval.id}:{approval.version}:{seconds}"


def remember_menu(approval: Approval) -> Block:
    """The card's menu: one option per duration the request offers, and a confirmation that
    says what the rule will cover before it is made."""
    options = [
        {
            "text": {"type": "plain_text", "text": duration_words(seconds)},
            "value": option_value(approval, seconds),
        }
        for seconds in review_of(approval).remember
    ]
    return {
        "type": "static_select",
        "action_id": REMEMBER,
        "placeholder": {"type": "plain_text", "text": PLACEHOLDER},
        "options": options,
        "confirm": {
            "title": {"type": "plain_text", "text": "Approve and remember?"},
            "text": {
                "type": "mrkdwn",
                "text": (
                    "Approves this request. Until the time you picked is up, the same "
                    f"{escape(kind_of(approval))[:40]} for <@{approval.requester}> from this "
                    "channel (with the same values of the arguments the policy names) runs "
                    "without asking. `/agent rules` lists and revokes it."
                )[:300],
            },
            "confirm": {"type": "plain_text", "text": "Approve and remember"},
            "deny": {"type": "plain_text", "text": "Cancel"},
        },
    }


def button_value(approval: Approval) -> str:
    """What each of a card's buttons carries: ``<request id>:<version>``."""
    return f"{approval.id}:{approval.version}"


def _item_lines(decision: Decision) -> str:
    """A batch decided call by call: "1. approved  2. rejected: not this one"."""
    lines = [
        f"{i + 1}. {_ITEM_WORDS.get(str(item.get('type')), str(item.get('type')))}"
        + (f": {item['message']}" if item.get("message") else "")
        for i, item in enumerate((decision.items or [])[:MAX_PROPOSALS])
    ]
    return safe("  ".join(lines), 1900)[0]


def pending_card(
    approval: Approval,
    notes: tuple[str, ...] = (),
    progress: tuple[str, ...] = (),
    edit: Decision | None = None,
) -> list[Block]:
    """``progress``: its sign-off so far; ``edit``: an edit that stands while the request
    collects more approvals, shown instead of what was proposed."""
    return [
        {"type": "header", "text": {"type": "plain_text", "text": _title(approval)}},
        *proposal_blocks(approval, _edits(approval, edit)),
        *([_context(_item_lines(edit))] if edit is not None and edit.items else []),
        *([_context(*progress)] if progress else []),
        *([_context(TOO_LONG_AT_ONCE)] if not readable_at_once(approval, edit) else []),
        _context(f"Run `{approval.thread_id[:8]}`", *notes),
        {
            "type": "actions",
            "block_id": f"decide:{approval.id}",
            "elements": buttons_for(approval, edit),
        },
    ]


def edited_values(approval: Approval, decision: Decision) -> list[dict[str, Any] | None] | None:
    """What ``decision`` changed, per proposal (None: that proposal as proposed)."""
    return _edits(approval, decision)


def _edits(
    approval: Approval, decision: Decision | None = None
) -> list[dict[str, Any] | None] | None:
    """What the decision changed, per proposal, to show instead of what was proposed."""
    return approval.edited_values(decision)


def decided_card(approval: Approval, progress: tuple[str, ...] = ()) -> list[Block]:
    edits = _edits(approval)
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _title(approval)}},
        *proposal_blocks(approval, edits),
        _mrkdwn(outcome_line(approval)),
        *([_context(*progress)] if progress else []),
    ]
    if approval.decision and approval.decision.items:
        blocks.append(_context(_item_lines(approval.decision)))
    if is_long(approval, edits):
        blocks.append(
            {
                "type": "actions",
                "block_id": f"read:{approval.id}",
                "elements": [_button("View full text", VIEW_FULL, button_value(approval))],
            }
        )
    return blocks


_ITEM_WORDS = {
    "approve": "approved",
    "edit": "edited",
    "reject": "rejected",
    "respond": "answered",
    "ignore": "ignored",
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
    if approval.status == "responded":
        message = f": {safe(d.message, 1000)[0]}" if d and d.message else ""
        return f"💬 *Answered* by {by} at {at}{message}"
    if approval.status == "ignored":
        return f"🙈 *Ignored* by {by} at {at}"
    if approval.status == "answered":
        return f"📝 *Answered* by {by} at {at}"
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


_WAITING = (" waiting for approval", " waiting for you", " to review")
_STATUS_WORDS = {"edited": "edited and approved", "decided": "decided"}


def _title(approval: Approval) -> str:
    title = review_of(approval).title or "Approval needed"
    if not approval.pending:
        for phrase in _WAITING:
            title = title.replace(phrase, "")
        title = f"{title}: {_STATUS_WORDS.get(approval.status, approval.status)}"
    return title[:150]


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
