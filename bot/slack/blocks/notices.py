"""Texts the scheduler posts: reminders, escalations, expiry reasons and card deadline notes."""

from __future__ import annotations

import json
from typing import Any

from bot.config.durations import format_duration
from bot.domain.models import Approval, Job, Waiting
from bot.slack.blocks.decided import when
from bot.slack.blocks.proposals import kind_of, with_article
from bot.slack.blocks.runs import link
from bot.slack.blocks.text import escape, quote, safe


def mentions(ids: list[str] | tuple[str, ...]) -> str:
    return " ".join(f"<!subteam^{i}>" if i.startswith("S") else f"<@{i}>" for i in ids)


def reminder(approval: Approval, waited: float, who: str) -> str:
    kind = kind_of(approval)
    ask = who or f"<@{approval.requester}>"
    return (
        f":alarm_clock: {ask} this {kind} has been waiting {format_duration(int(waited))} "
        "for a decision."
    )


DIGEST_LISTED = 25


def digest(waiting: list[tuple[Waiting, float]], who: str) -> str:
    """One message for many reminders due at once in a channel, oldest first, with links."""
    waiting = sorted(waiting, key=lambda item: -item[1])
    ask = f"{who} " if who else ""
    lines = [f":alarm_clock: {ask}{len(waiting)} requests are waiting for a decision:"]
    for approval, waited in waiting[:DIGEST_LISTED]:
        request, _ = safe(approval.request, 80)
        kind = escape(approval.summary or "request")
        lines.append(
            f"• {link(approval)}: {kind} for <@{approval.requester}>, "
            f"waiting {format_duration(int(waited))}: {request}"
        )
    if len(waiting) > DIGEST_LISTED:
        lines.append(f"…and {len(waiting) - DIGEST_LISTED} more: `/agent pending` lists them.")
    return "\n".join(lines)


def escalation(approval: Approval, job: Job, waited: float, permalink: str | None) -> str:
    level = job.level + 1
    targets = mentions(job.detail.get("to") or []) or "Approvers"
    link = f"<{permalink}|Open the request>" if permalink else "See the request card."
    kind = with_article(kind_of(approval))
    repeat = f", reminder {job.round + 1}" if job.round else ""
    return (
        f":rotating_light: Escalation level {level}{repeat}: {targets}, {kind} for "
        f"<@{approval.requester}> has waited {format_duration(int(waited))} for approval. {link}"
    )


def card_notes(jobs: list[Job]) -> tuple[str, ...]:
    """Deadlines still ahead, and the escalations already made, for the pending card."""
    notes: list[str] = []
    done = [j for j in jobs if j.kind == "escalate" and j.status == "done"]
    if done:
        last = max(done, key=lambda j: j.due_at)
        targets = mentions(last.detail.get("to") or []) or "the escalation channel"
        notes.append(f":rotating_light: Escalated to {targets} (level {last.level + 1})")
    upcoming = [j for j in jobs if j.status == "pending"]
    escalate = next((j for j in upcoming if j.kind == "escalate"), None)
    if escalate is not None and escalate.round == 0:
        notes.append(f"Escalates {when(escalate.due_at)}")
    expire = next((j for j in upcoming if j.kind == "expire"), None)
    if expire is not None:
        how = "rejected" if expire.detail.get("as", "reject") == "reject" else "approved"
        notes.append(f"Expires {when(expire.due_at)} ({how} if nobody decides)")
    return tuple(notes)


RETRY = "run.retry"


def retry_blocks(text: str, thread_id: str) -> list[dict[str, Any]]:
    """A failure note (our own text, already safe) with a Retry button."""
    return [
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000], "verbatim": True}},
        {
            "type": "actions",
            "block_id": f"retry:{thread_id}",
            "elements": [
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Retry"},
                    "action_id": RETRY,
                    "value": thread_id,
                }
            ],
        },
    ]


def edit_note(approval: Approval) -> str | None:
    """For the run's thread: what an edit changed, before and after; None if nothing shows."""
    decision, review = approval.decision, approval.review
    if decision is None or approval.status != "edited" or review is None:
        return None
    by = f"<@{approval.decided_by}>"
    if review.shape == "draft" and decision.text is not None and review.proposals:
        before, _ = quote(review.proposals[0].description, 1500)
        after, _ = quote(decision.text, 1500)
        return f"✏️ {by} edited the draft before approving it.\n*Before*\n{before}\n*After*\n{after}"
    if decision.parameters is None or len(review.proposals) != 1:
        return None
    # Before: the form's initial values, the inputs the reviewer edited (the card's details may
    # show the whole pause while Edit edits a part of it, as with a policy's `edit` path).
    was = {name: shown(value) for name, value in review.proposals[0].initial_values().items()}
    changed = [
        (name, was.get(name, "(none)"), shown(value))
        for name, value in decision.parameters.items()
        if was.get(name, "(none)") != shown(value)
    ]
    if not changed:
        return f"✏️ {by} opened the edit and approved it unchanged."
    lines = [f"✏️ {by} edited it before approving:"]
    for name, before, after in changed[:20]:
        lines.append(f"• *{safe(name, 80)[0]}*: {safe(before, 300)[0]} → {safe(after, 300)[0]}")
    return "\n".join(lines)


def shown(value: Any) -> str:
    """A value as the edit note shows it: text as it is, structures as JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return "(none)"
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def server_away(requester: str, problem: str, decided: bool) -> str:
    """The agent server (LangGraph Server) did not answer; what is kept and what happens next."""
    detail, _ = safe(problem, 300)
    if decided:
        return (
            f":hourglass: The decision is recorded, but {detail}. It will be carried out once "
            "the server answers again; nothing needs to be clicked again."
        )
    return (
        f"<@{requester}> :hourglass: Your run is recorded, but {detail}. It starts once the "
        "server answers again."
    )


def card_refused(approval: Approval, error: str) -> str:
    """To the requester: Slack will never take this request's card, so the run is closed as
    failed; why, and what to do about it. ``error``: Slack's code
    (``bot.slack.errors.REFUSALS``)."""
    channel = approval.channel
    # A direct message is named in words: <#D…> shows nothing useful to the reader.
    where = "the conversation you started it in" if channel[:1] == "D" else f"<#{channel}>"
    head = (
        f"<@{approval.requester}> :warning: I couldn't post the approval card for your run "
        f"`{approval.thread_id[:8]}` in {where}"
    )
    closed = " So the run is closed as failed: nothing was decided or done."
    if error in ("channel_not_found", "not_in_channel"):
        if channel[:1] == "D":
            why = ": I can't post in a direct message between people."
            fix = (
                " Start it again with `/agent` in a channel I'm in, or ask an admin to set "
                "`APPROVALS_CHANNEL` to one."
            )
        else:
            why = ": I'm not a member of that channel (or can't see it)."
            fix = (
                " Invite me with `/invite @` followed by my name there, or ask an admin to set "
                "`APPROVALS_CHANNEL` to a channel I'm in, then start it again with `/agent`."
            )
    elif error == "is_archived":
        why = ": that channel is archived."
        fix = (
            " Start it again with `/agent` in a channel that is in use, or ask an admin to set "
            "`APPROVALS_CHANNEL` to one."
        )
    else:
        why = f": Slack refused the card itself (`{safe(error, 60)[0]}`)."
        fix = " That is a problem in the bot or its graph: please tell whoever runs the bot."
    return head + why + closed + fix


def waiting_where(
    approval: Approval, who: str, channel: str | None, dm: bool, permalink: str | None
) -> str:
    """The one line the requester's channel gets when the card goes elsewhere: "<@U0REQ> your
    email waits for members of <!subteam^S0FIN> in <#C0FIN>: Open the request"."""
    places = [f"<#{channel}>"] if channel else []
    if dm:
        places.append("their direct messages")
    opened = f": <{permalink}|Open the request>" if permalink and channel else "."
    kind = kind_of(approval)
    return f"<@{approval.requester}> your {kind} waits for {who} in {' and '.join(places)}{opened}"


REFUSED_SHOWN = 300  # characters of the graph's error on a card, an ephemeral, a thread line
# What a refusal tells for sure: the thread still waits on the same pause. Not that nothing ran:
# the node's own code may have done something before it raised.
STILL_HERE = "The run did not go past this step"


def refused_note(approval: Approval) -> tuple[str, ...]:
    """The pending card's line when the graph refused the last answer it was handed."""
    if not approval.refused:
        return ()
    why, _ = safe(approval.refused, REFUSED_SHOWN)
    return (f":warning: The agent refused the last answer: {why}. {STILL_HERE}; decide again.",)


def agent_refused(approval: Approval, by: str | None, expired: bool = False) -> str:
    """In the run's thread: the graph refused ``by``'s decision, or the approval its deadline
    gave (``expired``: it has a new deadline, which rejects); the request is open again."""
    why, _ = safe(approval.refused or "", REFUSED_SHOWN)
    who = f"<@{by}> " if by else ""
    if expired:
        return (
            f":warning: Nobody decided this {kind_of(approval)} in time, and the agent refused "
            f"the approval its deadline gave: {why}. {STILL_HERE}; the request is open again "
            "for anyone who may decide it, with a new deadline, and now expires as rejected."
        )
    return (
        f"{who}:warning: The agent refused the answer to this {kind_of(approval)}: {why}. "
        f"{STILL_HERE}; the request is open again for anyone who may decide it."
    )
