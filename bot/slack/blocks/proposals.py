"""What the agent proposes, as a card shows it: the request, then each proposal (a draft's text,
or a call's name, risk, description and arguments), as proposed or as an edit leaves it, cut to
what Slack lets one message hold; and, behind "View full text", the whole of what was cut. It
renders what an adapter described (:class:`bot.domain.review.Review`) and nothing else."""

from __future__ import annotations

from typing import Any

from bot.domain.models import Approval, Decision
from bot.domain.review import Proposal, Review
from bot.slack.blocks.text import cut_escaped, literal, one_line, quote, safe

RISK_BADGE = {"low": "🟢 Low", "medium": "🟠 Medium", "high": "🔴 High"}
REQUEST_LIMIT = 500
PARAMS_LIMIT = 2800
CARD_TEXT_BUDGET = 9000  # for all proposals together
MAX_PROPOSALS = 10  # keeps a card far below Slack's 50 blocks

Block = dict[str, Any]
Edits = list[dict[str, Any] | None]


def mrkdwn(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def context(*texts: str) -> Block:
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


def edited_values(approval: Approval, decision: Decision | None = None) -> Edits | None:
    """What ``decision`` (by default the one made) changed, per proposal, to show instead of
    what was proposed (None: that proposal as proposed)."""
    return approval.edited_values(decision)


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
    return mrkdwn(text), cut or shortened


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
        blocks.append(mrkdwn(body if draft.strip() else "_(empty draft)_"))
        if cut:
            blocks.append(
                context(
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
        blocks.append(mrkdwn(f"*{number}`{title}`*"))
    about, params = _limits(review)
    description, cut = safe(proposal.description, about)
    if description or proposal.risk is not None:
        blocks.append(mrkdwn(description or "_(no description)_"))
    shown = proposal.as_edited(edited) if edited is not None else None
    details, shortened = _details(proposal, shown, params)
    if details is not None:
        blocks.append(details)
    elif proposal.risk is not None:
        blocks.append(mrkdwn("_(no parameters)_"))
    if cut or shortened:  # the card then offers the version it shows in full (is_long)
        blocks.append(context("Shortened for the card. Use *View full text* to read all of it."))
    return blocks


def proposal_blocks(approval: Approval, edits: Edits | None = None) -> list[Block]:
    """What the agent proposes; ``edits`` shows each proposal's edited values instead."""
    review = review_of(approval)
    request, _ = safe(approval.request, REQUEST_LIMIT)
    blocks: list[Block] = [mrkdwn(f"*<@{approval.requester}> asked:* {request}")]
    for index, proposal in enumerate(review.proposals[:MAX_PROPOSALS]):
        edited = edits[index] if edits and index < len(edits) else None
        blocks.extend(_proposal_blocks(review, proposal, index, edited))
    hidden = len(review.proposals) - MAX_PROPOSALS
    if hidden > 0:
        blocks.append(context(f"…and {hidden} more; use *Review each* to see them all."))
    return blocks


def _shown_draft(proposal: Proposal, edited: dict[str, Any] | None) -> str:
    if edited is None:  # as proposed ({} is an edit that emptied every field)
        return proposal.description
    return str(edited.get("text", proposal.description))


def _edited(edits: Edits | None) -> bool:
    """Whether any proposal is shown as edited ({} too: an edit that emptied every field)."""
    return any(edit is not None for edit in edits or ())


def _edit_of(edits: Edits | None, index: int) -> dict[str, Any] | None:
    return edits[index] if edits and index < len(edits) else None


def is_long(approval: Approval, edits: Edits | None = None) -> bool:
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


def full_text(approval: Approval, edits: Edits | None = None) -> str:
    """What "View full text" shows: the whole of the version the card shows (as proposed, or
    as ``edits`` leave it, by default as decided), and of whatever else the card shortened: the
    request, a call's description."""
    review = review_of(approval)
    edits = edits if _edited(edits) else edited_values(approval)
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
    edits = edited_values(approval, edit) if edit is not None else None
    return review_of(approval).approvable_at_once(edits)
