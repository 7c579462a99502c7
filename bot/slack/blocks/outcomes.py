"""What a person is told of their click, retry or vote, in Slack's words: :mod:`bot.core.
outcomes` in, mrkdwn sentences out. Pure; the HTTP API says the same sentences."""

from __future__ import annotations

from bot.core import outcomes
from bot.core.ports import StageCall
from bot.domain.models import Approval
from bot.slack.blocks.decided import outcome_line, when
from bot.slack.blocks.deciders import refusal_text, who_may
from bot.slack.blocks.notices import REFUSED_SHOWN, STILL_HERE
from bot.slack.blocks.progress import needed
from bot.slack.blocks.text import safe

NOT_FOUND = "I can't find that approval request any more."
NOT_OFFERED = "Nothing changed: that isn't one of the choices this request offers."
CHANGED = (
    "Nothing changed: this request was edited since your card showed it, so your vote would "
    "be for a version that will not run. The card now shows what it says; decide on that."
)
NOT_FROM_CARD = "Nothing changed: that button isn't on this request's card."
COULD_NOT_APPLY = (
    "Sorry, I couldn't apply your click after several tries, so nothing changed. "
    "Please try again, or ask the bot's operator to check its log."
)
RUN_GONE = "I can't find that run any more."


def already_decided(approval: Approval) -> str:
    return f"Nothing changed: this request was already decided. {outcome_line(approval)}"


def agent_refused(approval: Approval) -> str:
    why, _ = safe(approval.refused or "", REFUSED_SHOWN)
    return (
        f"The agent refused your answer: {why}. {STILL_HERE}, and the request is open again: "
        "decide again on its card."
    )


def expiring(deadline: float) -> str:
    return (
        f"Nothing changed: this request's deadline passed at {when(deadline)}, "
        "so it is being expired. The card shows the outcome shortly."
    )


def next_stage(call: StageCall) -> str:
    """ "Stage 2 of 2 (Legal) is for <@U1> or members of <!subteam^S1>." """
    return f"{call.label} is for {who_may(call.stage, call.requester)}."


def receipt(vote: outcomes.VoteRecorded) -> str:
    """What the voter is told when their click counted but did not settle the request."""
    who = who_may(vote.stage, vote.approval.requester)
    call = next_stage(StageCall(vote.label, vote.stage, vote.approval.requester))
    if vote.ballot == "duplicate":
        return f"You've already voted on this. {needed(vote.count, vote.stage, who)}"
    if vote.ballot == "advanced":
        return "Recorded: that completes this stage. " + call
    if vote.ballot == "returned":
        return (
            "Recorded your edit. It is a new version, so the earlier stages sign it again "
            "before your stage counts it. " + call
        )
    return f"Recorded your vote. {needed(vote.count, vote.stage, who)}"


def sentence(outcome: outcomes.Outcome | outcomes.Retry) -> str | None:
    """What the person is told; None when nothing is said (their decision settled it, or it
    is a replay of a click that already did)."""
    match outcome:
        case outcomes.Retry(kind=outcomes.RetryKind.REPLAYED):
            return None
        case outcomes.Retry():
            return retry_sentence(outcome)
        case outcomes.VoteRecorded():
            return receipt(outcome)
        case outcomes.DecidedMeanwhile(approval=approval):
            return (
                f"Your vote is recorded, and the request is now decided: {outcome_line(approval)}"
            )
        case outcomes.NotFound():
            return NOT_FOUND
        case outcomes.Refused(refusal=refusal):
            return refusal_text(refusal)
        case outcomes.NotOffered():
            return NOT_OFFERED
        case outcomes.NotFromCard(card_link=link):
            return NOT_FROM_CARD + (f" Use <{link}|the current card>." if link else "")
        case outcomes.AlreadyDecided(approval=approval):
            return already_decided(approval)
        case outcomes.Expiring(deadline=deadline):
            return expiring(deadline)
        case outcomes.Changed():
            return CHANGED
        case outcomes.GaveUp():
            return COULD_NOT_APPLY
        case outcomes.AgentRefused(approval=approval):
            return agent_refused(approval)
    return None


def where(outcome: outcomes.Outcome | outcomes.Retry, channel: str | None, user: str) -> str:
    """The channel the ephemeral goes to: the one clicked in (a copy of the card in a
    decider's direct messages has only them in it), else the request's, else the person's."""
    approval = getattr(outcome, "approval", None)
    if channel:
        return channel
    if isinstance(approval, Approval):
        return approval.channel
    return user


def cancel_sentence(cancel: outcomes.Cancel) -> str:
    short = f"`{cancel.thread_id[:8]}`"
    if cancel.kind == outcomes.CancelKind.BUSY:
        return f"Run {short} is busy carrying out a step; nothing changed. Try again shortly."
    if cancel.kind == outcomes.CancelKind.FINISHED:
        return f"Run {short} is already {cancel.status}; there is nothing to cancel."
    if cancel.kind == outcomes.CancelKind.TOO_LATE:
        return (
            f"Too late: run {short} was just decided and is carrying it out. "
            f"`/agent status {cancel.thread_id[:8]}`"
        )
    return f"Cancelled run {short}."


def retry_sentence(retry: outcomes.Retry) -> str:
    short = retry.thread_id[:8]
    if retry.kind == outcomes.RetryKind.NOT_FOUND:
        return RUN_GONE
    if retry.kind == outcomes.RetryKind.NOT_FAILED:
        return f"Run `{short}` is {retry.status}; there is nothing to retry."
    if retry.kind == outcomes.RetryKind.CARD_REFUSED:
        return (
            f"Run `{short}` failed because Slack refused its approval card, and a retry cannot "
            "post it: fix what my message about it says, then ask again with `/agent`."
        )
    return f"Retrying run `{short}`."
