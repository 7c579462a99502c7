"""Who may decide, in Slack's words: mentions of people and user groups, and why someone
may not (:class:`bot.core.deciders.Refusal` in, a sentence out). Pure."""

from __future__ import annotations

from bot.core.deciders import Refusal, Why, is_group
from bot.domain.signoff import Stage


def who_may(stage: Stage, requester: str, besides: tuple[str | None, ...] = ()) -> str:
    """The people who may decide, as Slack mentions: "<@U1>, <@U2> or members of <!subteam^S1>";
    ``besides``: people listed who may not decide this one (those who asked for the run)."""
    if not stage.approvers:
        return f"<@{requester}>"
    listed = [a for a in stage.approvers if a not in besides] or list(stage.approvers)
    names = [f"<@{a}>" for a in listed if not is_group(a)]
    names += [f"members of <!subteam^{a}>" for a in listed if is_group(a)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def refusal_text(refusal: Refusal) -> str:
    who, what = who_may(refusal.stage, refusal.requester), refusal.what
    match refusal.why:
        case Why.NOT_REQUESTER:
            return f"Only {who}, who started this run, can decide {what}."
        case Why.NO_SECOND_PERSON:
            return (
                f"This run needs a second person to sign {what}, but only {who} may decide "
                "it: list approvers in APPROVERS or in the policy file."
            )
        case Why.UNCHECKED:
            return (
                "I couldn't check the approvers list with Slack just now, so I can't accept "
                f"this. {what.capitalize()} is for {who}."
            )
        case Why.NOT_LISTED:
            return f"Only {who} can decide {what}."
        case Why.OWN_RUN:
            asked = (refusal.requester, refusal.asked_by)
            others = who_may(refusal.stage, refusal.requester, asked)
            return f"You started this run, so someone else has to decide {what}: {others}."
        case Why.VOTED_AS_ANOTHER | Why.SIGNED_AS_ANOTHER:
            done = "voted on this request"
            if refusal.why == Why.SIGNED_AS_ANOTHER:
                done = "signed another part of this run"
            through = f" (through the API token `{refusal.token}`)" if refusal.token else ""
            return (
                f"Nothing changed: you already {done} as <@{refusal.voted_as}>{through}. "
                "A person and their API token count as one signer, whoever the token names."
            )
    return f"You already signed for this run, so someone else has to decide {what}: {who}."
