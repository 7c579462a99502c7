"""What a person is told of a decision (bot.slack.blocks.outcomes): typed outcomes in, the
same sentences the engine used to say itself out. Pure: no Slack, no database."""

from __future__ import annotations

from bot.core import outcomes
from bot.core.deciders import Refusal, Why
from bot.domain.signoff import Stage
from bot.domain.votes import Tally
from bot.slack.blocks.decided import outcome_line, when
from bot.slack.blocks.outcomes import (
    CHANGED,
    COULD_NOT_APPLY,
    NOT_FOUND,
    NOT_FROM_CARD,
    NOT_OFFERED,
    cancel_sentence,
    retry_sentence,
    sentence,
    where,
)
from tests.support.approvals import BOSS, REQUESTER, decided, draft

STAGE = Stage(approvers=(BOSS, "U0LEAD"), quorum=2)


def _vote(ballot: outcomes.Ballot, label: str = "") -> outcomes.VoteRecorded:
    return outcomes.VoteRecorded(draft("x"), ballot, Tally((BOSS,), (), None), STAGE, label)


def test_a_decision_that_won_or_replays_says_nothing():
    approval = draft("x")
    assert sentence(outcomes.Applied(approval)) is None
    assert sentence(outcomes.Replayed(approval)) is None


def test_refusals_and_late_clicks_keep_their_words():
    approval = draft("x")
    done = decided(approval, "approve")
    assert sentence(outcomes.NotFound()) == NOT_FOUND
    assert sentence(outcomes.NotOffered(approval)) == NOT_OFFERED
    assert sentence(outcomes.Changed(approval)) == CHANGED
    assert sentence(outcomes.GaveUp()) == COULD_NOT_APPLY
    assert sentence(outcomes.AlreadyDecided(done)) == (
        f"Nothing changed: this request was already decided. {outcome_line(done)}"
    )
    assert sentence(outcomes.DecidedMeanwhile(done)) == (
        f"Your vote is recorded, and the request is now decided: {outcome_line(done)}"
    )
    refused = Refusal(Why.NOT_LISTED, Stage(approvers=(BOSS,)), REQUESTER)
    assert sentence(outcomes.Refused(approval, refused)) == (
        f"Only <@{BOSS}> can decide this request."
    )


def test_a_click_after_the_deadline_hears_when_it_passed():
    said = sentence(outcomes.Expiring(draft("x"), 1_800_000_060.0))
    assert said == (
        "Nothing changed: this request's deadline passed at "
        f"{when(1_800_000_060.0)}, so it is being expired. "
        "The card shows the outcome shortly."
    )


def test_a_click_from_a_stale_copy_points_at_the_current_card():
    approval = draft("x")
    assert sentence(outcomes.NotFromCard(approval)) == NOT_FROM_CARD
    linked = outcomes.NotFromCard(approval, "https://slack.example/p1")
    assert sentence(linked) == NOT_FROM_CARD + " Use <https://slack.example/p1|the current card>."
    assert where(linked, "C0COPY", BOSS) == "C0COPY"
    assert where(linked, None, BOSS) == approval.channel
    assert where(outcomes.NotFound(), None, BOSS) == BOSS
    # Where the person clicked, always: a copy in someone's DM has nobody else in it.
    assert where(outcomes.Changed(approval), "DU0BOSS", BOSS) == "DU0BOSS"
    assert where(outcomes.Changed(approval), None, BOSS) == approval.channel


def test_a_vote_says_who_is_still_needed():
    who = f"<@{BOSS}> or <@U0LEAD>"
    assert sentence(_vote("counted")) == (
        f"Recorded your vote. 1 of 2 approvals so far; it needs 1 more from {who}."
    )
    assert sentence(_vote("duplicate")) == (
        f"You've already voted on this. 1 of 2 approvals so far; it needs 1 more from {who}."
    )
    assert sentence(_vote("advanced", "Stage 2 of 2 (Legal)")) == (
        f"Recorded: that completes this stage. Stage 2 of 2 (Legal) is for {who}."
    )
    assert sentence(_vote("returned", "Stage 1 of 2")).startswith("Recorded your edit.")


def test_retries_and_cancels_are_told_in_words():
    run = "1a2b3c4d" + "0" * 24
    assert retry_sentence(outcomes.Retry(outcomes.RetryKind.RETRYING, run)) == (
        "Retrying run `1a2b3c4d`."
    )
    assert retry_sentence(outcomes.Retry(outcomes.RetryKind.NOT_FAILED, run, "done")) == (
        "Run `1a2b3c4d` is done; there is nothing to retry."
    )
    assert retry_sentence(outcomes.Retry(outcomes.RetryKind.NOT_FOUND, run)) == (
        "I can't find that run any more."
    )
    assert cancel_sentence(outcomes.Cancel(outcomes.CancelKind.CANCELLED, run)) == (
        "Cancelled run `1a2b3c4d`."
    )
    assert cancel_sentence(outcomes.Cancel(outcomes.CancelKind.FINISHED, run, "failed")) == (
        "Run `1a2b3c4d` is already failed; there is nothing to cancel."
    )
    assert cancel_sentence(outcomes.Cancel(outcomes.CancelKind.TOO_LATE, run)).startswith(
        "Too late: run `1a2b3c4d` was just decided"
    )
