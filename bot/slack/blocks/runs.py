"""Text for the ``/agent`` subcommands: what waits for you, where a run stands, its audit trail.
Pure: records in, mrkdwn out (Slack's ephemeral text limit is kept in mind by the caller)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.domain.models import Approval, Run, Waiting
from bot.slack.blocks.card import trace_link
from bot.slack.blocks.decided import outcome_line, when
from bot.slack.blocks.proposals import kind_of
from bot.slack.blocks.text import escape, safe
from bot.store.audit_log import Event

MAX_LISTED = 20
SUBCOMMANDS = {
    "help": "this help",
    "pending": "what is waiting for your decision, oldest first",
    "status <run>": "where a run stands, what it waits for, and its timeline",
    "cancel <run>": "cancel a run (its requester, its approvers or an admin); nothing more runs",
    "audit <run>": "every event of a run: who did what, when",
    "rules": "remembered approvals in force (`/agent rules revoke <number>` stops one)",
}


def link(approval: Approval | Waiting) -> str:
    """A link to the card (Slack's archive address redirects to the message)."""
    if approval.ts is None:
        return "(card not posted yet)"
    return f"<https://slack.com/archives/{approval.channel}/p{approval.ts.replace('.', '')}|card>"


def subcommands() -> str:
    return "\n".join(f"• `/agent {name}`: {what}" for name, what in SUBCOMMANDS.items())


def pending_text(approvals: Sequence[Approval], now: float) -> str:
    if not approvals:
        return "Nothing is waiting for your decision."
    lines = [f"*{len(approvals)} waiting for your decision*, oldest first:"]
    for approval in approvals[:MAX_LISTED]:
        request, _ = safe(approval.request, 120)
        kind = escape(kind_of(approval, approval.graph))
        lines.append(
            f"• {kind} for <@{approval.requester}> (run `{approval.thread_id[:8]}`), since "
            f"{when(approval.created_at)}: {request} · {link(approval)}"
        )
    if len(approvals) > MAX_LISTED:
        lines.append(f"…and {len(approvals) - MAX_LISTED} more.")
    return "\n".join(lines)


def status_text(
    run: Run,
    approvals: Sequence[Approval],
    waits_for: dict[str, str],
    events: Sequence[Event],
    trace_url: str | None = None,
) -> str:
    """``waits_for``: approval id -> who may decide it, for the pending ones; ``trace_url``:
    its latest step's trace, when tracing is on."""
    request, _ = safe(run.request, 300)
    lines = [
        f"*Run `{run.thread_id[:8]}`* ({escape(run.graph)}), started by <@{run.requester}> "
        f"{when(run.created_at)}: *{run.status}*",
        f"> {request}",
    ]
    for approval in approvals:
        if approval.pending:
            who = waits_for.get(approval.id, "")
            lines.append(
                f"⏳ Waiting for {who} on the {escape(kind_of(approval))} · {link(approval)}"
            )
        else:
            lines.append(f"{outcome_line(approval)} · {link(approval)}")
    if run.status in ("done", "failed") and run.result:
        result, _ = safe(run.result, 500)
        lines.append(f"Result: {result}")
    if trace_url:
        lines.append(trace_link(trace_url))
    if events:
        lines.append("*Timeline*")
        lines.extend(timeline(events))
    return "\n".join(lines)


def timeline(events: Sequence[Event], limit: int = 30) -> list[str]:
    shown = list(events)[-limit:]
    lines = [f"…{len(events) - limit} earlier events not shown"] if len(events) > limit else []
    for event in shown:
        actor = event.actor if event.actor in ("bot", "scheduler") else f"<@{event.actor}>"
        if event.detail.get("via") == "rule":  # nobody clicked: a remembered approval did
            made = f"made by {actor}"
            if isinstance(event.detail.get("rule_at"), int | float):
                made += f" at {when(event.detail['rule_at'])}"
            actor = f"rule #{event.detail.get('rule')} ({made})"
        detail = _detail(event)
        lines.append(f"• {when(event.at)} *{event.event}* by {actor}{_door(event)}{detail}")
    return lines


def audit_text(run: Run, events: Sequence[Event]) -> str:
    head = f"*Audit trail of run `{run.thread_id[:8]}`* ({len(events)} events)"
    return "\n".join([head, *timeline(events, 40)]) if events else f"{head}: nothing yet."


def _door(event: Event) -> str:
    """How a decision came in, when not by a click in Slack: the API, and which token; a
    click that also made a remembered approval says which."""
    rule = event.detail.get("rule")
    if event.event == "approved" and rule is not None and event.detail.get("via") != "rule":
        return f", remembered as rule #{rule}"
    if event.event in ("rule_created", "rule_revoked") and rule is not None:
        return f" (rule #{rule})"
    if event.detail.get("via") != "api":
        return ""
    token = event.detail.get("on_behalf_of")
    if not token:
        return " via the API"
    return f" via the API (token `{escape(str(token))}`, on their behalf)"


def _detail(event: Event) -> str:
    keys = ("reason", "before", "after", "approvers", "vote", "error", "kind", "note")
    parts = [f"{k}: {event.detail[k]}" for k in keys if event.detail.get(k) not in (None, "")]
    if not parts:
        return ""
    text, _ = safe("; ".join(str(p) for p in parts), 300)
    return f" ({text})"
