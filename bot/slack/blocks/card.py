"""The approval card: pending (with the buttons its review allows, each carrying its action id
and the version it shows) and decided (who, what, when). What the agent proposes is rendered by
:mod:`bot.slack.blocks.proposals`, how a decision reads by :mod:`bot.slack.blocks.decided`."""

from __future__ import annotations

from typing import Any

from bot.domain.models import Approval, Decision
from bot.slack.blocks.decided import item_lines, outcome_line
from bot.slack.blocks.proposals import (
    context,
    edited_values,
    is_long,
    kind_of,
    mrkdwn,
    proposal_blocks,
    readable_at_once,
    review_of,
)
from bot.slack.blocks.text import escape

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
TOO_LONG_AT_ONCE = "Too long to read in full in one place: decide each call with *Review each*."

Block = dict[str, Any]


def trace_link(url: str) -> str:
    """A link to a LangSmith trace (its address is ours: no user text in it)."""
    return f":mag: <{url}|View the trace>"


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
    if is_long(approval, edited_values(approval, edit)):
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
        *proposal_blocks(approval, edited_values(approval, edit)),
        *([context(item_lines(edit))] if edit is not None and edit.items else []),
        *([context(*progress)] if progress else []),
        *([context(TOO_LONG_AT_ONCE)] if not readable_at_once(approval, edit) else []),
        context(f"Run `{approval.thread_id[:8]}`", *notes),
        {
            "type": "actions",
            "block_id": f"decide:{approval.id}",
            "elements": buttons_for(approval, edit),
        },
    ]


def decided_card(approval: Approval, progress: tuple[str, ...] = ()) -> list[Block]:
    edits = edited_values(approval)
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": _title(approval)}},
        *proposal_blocks(approval, edits),
        mrkdwn(outcome_line(approval)),
        *([context(*progress)] if progress else []),
    ]
    if approval.decision and approval.decision.items:
        blocks.append(context(item_lines(approval.decision)))
    if is_long(approval, edits):
        blocks.append(
            {
                "type": "actions",
                "block_id": f"read:{approval.id}",
                "elements": [_button("View full text", VIEW_FULL, button_value(approval))],
            }
        )
    return blocks


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
