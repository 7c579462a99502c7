"""The App Home tab: the requests waiting for a decision, and your own latest runs.

Slack refuses a Home view of more than 100 blocks, or a section over 3,000 characters: the list
is cut at :data:`MAX_LISTED` requests (2 blocks each, 3 with an edit standing) with a count of
the rest, and every text from a graph or a person is cut to fit."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bot.domain.models import Approval, Decision, Run
from bot.slack.blocks import card
from bot.slack.blocks.decided import when
from bot.slack.blocks.proposals import kind_of
from bot.slack.blocks.runs import link
from bot.slack.blocks.text import escape, safe

MAX_LISTED = 15
# What signs a request: not offered here for an edit that stands, which the Home does not show.
APPROVING = (card.APPROVE, card.REMEMBER)
MAX_RUNS = 10
SECTION_LIMIT = 3000


def home_view(
    pending: Sequence[Approval],
    total: int | None = None,
    runs: Sequence[tuple[Run, Approval | None]] = (),
    rules: Sequence[dict[str, Any]] = (),
    edits: Mapping[str, Decision] | None = None,
) -> dict[str, Any]:
    """``total``: how many wait in all (default: ``len(pending)``); ``runs``: the viewer's
    latest runs, each with its latest card; ``rules``: the remembered approvals' blocks
    (bot.slack.blocks.rules.home_blocks); ``edits``: the edit that stands on a request, by
    its id (its signers are asked to approve that version, which only its card shows)."""
    edits = edits or {}
    total = len(pending) if total is None else total
    blocks: list[dict[str, Any]] = [_header("Waiting for approval")]
    if not pending:
        blocks.append(_section("Nothing is waiting. Start a run with `/agent <request>`."))
    for approval in pending[:MAX_LISTED]:
        request, _ = safe(approval.request, 300)
        kind, _ = safe(str(kind_of(approval, approval.graph)), 100)
        blocks.append(
            _section(
                f"*{kind[:1].upper() + kind[1:]}* for <@{approval.requester}> in "
                f"<#{approval.channel}>, since {when(approval.created_at)} · "
                f"{link(approval)}\n{request}"
            )
        )
        actions = card.pending_card(approval)[-1]
        edit = edits.get(approval.id)
        if edit is not None:
            blocks.append(_context(f"✏️ Edited by <@{edit.by}>: read and sign it on its card."))
            kept = [e for e in actions["elements"] if e.get("action_id") not in APPROVING]
            actions = {**actions, "elements": kept}
        if actions["elements"]:  # Slack refuses an actions block without buttons
            blocks.append(actions)
    shown = min(len(pending), MAX_LISTED)
    if total > shown:
        blocks.append(_section(f"…and {total - shown} more ({total} waiting in all)."))
    if runs:
        blocks.append(_header("Your runs"))
        lines = [_run_line(run, latest) for run, latest in runs[:MAX_RUNS]]
        blocks.append(_section("\n".join(lines)))
    blocks.extend(rules)
    return {"type": "home", "blocks": blocks}


def _run_line(run: Run, latest: Approval | None) -> str:
    request, _ = safe(run.request, 150)
    where = f" · {link(latest)}" if latest is not None else ""
    return (
        f"• `{run.thread_id[:8]}` {escape(run.graph)}, *{run.status}* since "
        f"{when(run.updated_at)}: {request}{where}"
    )


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text, "verbatim": True}]}


def _section(text: str) -> dict[str, Any]:
    text = text if len(text) <= SECTION_LIMIT else text[: SECTION_LIMIT - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}
