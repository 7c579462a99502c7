"""A person's decision checked and claimed (bot.core.deciding), on both real databases, for the
rules the decider itself adds to the claim and the tally: one click settles only the version it
was shown; "Approve, and don't ask again" only where it is offered; a click from the inbox is
closed by the claim that wins, and a click (or vote) already counted elsewhere is a replay, not
"already decided"; a vote on a card not posted yet is shown once it is; the work goes to the pool
when asked. (Who may decide, late clicks, races and stages: tests/core/test_engine.py.)"""

from __future__ import annotations

from bot.core import outcomes
from bot.core.deciding import recounted
from bot.core.ports import ResumeRefused
from bot.domain.models import Decision
from bot.domain.signoff import Stage
from bot.domain.votes import Vote
from bot.store.decisions import Ballot
from tests.support.units import engine_parts

LEASE = 30.0


def test_one_click_settles_only_the_version_it_was_shown(parts, approval):
    parts.graph.fail_with = ResumeRefused("seats come in pairs", ("i1",))
    refused = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
    assert isinstance(refused, outcomes.AgentRefused) and refused.approval.version == 2
    parts.graph.fail_with = None
    parts.publisher.calls.clear()

    old_card = Decision("approve", "U0ASKER")  # its buttons carry no version: the first
    outcome = parts.engine.decide(approval.id, old_card)

    assert isinstance(outcome, outcomes.Changed)
    assert parts.approval(approval.id).pending
    assert [a.id for a in parts.publisher.named("refresh")] == [approval.id]  # card redrawn
    assert len(parts.graph.answers) == 1  # only the refused one

    current = Decision("approve", "U0ASKER", version=2)
    assert isinstance(parts.engine.decide(approval.id, current), outcomes.Applied)


def test_remember_is_not_offered_without_remembered_approvals(parts, approval):
    remember = Decision("approve", "U0ASKER", remember=3600)

    outcome = parts.engine.decide(approval.id, remember)

    assert isinstance(outcome, outcomes.NotOffered)
    assert parts.approval(approval.id).pending


def test_remember_on_an_older_version_is_a_change_not_a_refusal(parts, approval):
    outcome = parts.engine.decide(
        approval.id, Decision("approve", "U0ASKER", remember=3600, version=7)
    )
    assert isinstance(outcome, outcomes.Changed)
    assert parts.approval(approval.id).pending


def test_a_click_from_the_inbox_is_closed_by_the_claim_that_wins(parts, approval):
    click = Decision("approve", "U0ASKER")
    taken = parts.store.received_click(parts.store.receive_click(approval.id, click, None, LEASE))
    won = Decision("approve", "U0ASKER", receipt=taken.entry.id)

    outcome = parts.engine.decider.decide(approval.id, won, click=taken)

    assert isinstance(outcome, outcomes.Applied)
    assert taken.closed
    assert parts.store.open_inbox(-1.0) == []  # nothing left for the sweep


def test_a_click_from_the_inbox_that_loses_is_not_closed_by_a_claim(parts, approval):
    parts.engine.decide(approval.id, Decision("reject", "U0ASKER"))
    click = Decision("approve", "U0ASKER")
    taken = parts.store.received_click(parts.store.receive_click(approval.id, click, None, LEASE))

    late = Decision("approve", "U0ASKER", receipt=taken.entry.id)
    outcome = parts.engine.decider.decide(approval.id, late, click=taken)

    assert isinstance(outcome, outcomes.AlreadyDecided)
    assert not taken.closed


def test_a_click_that_already_won_elsewhere_is_a_replay(parts, approval):
    won = Decision("approve", "U0ASKER", receipt="entry-1")
    assert isinstance(parts.engine.decide(approval.id, won), outcomes.Applied)

    again = parts.engine.decide(approval.id, won)  # taken over after a stall, handled again

    assert isinstance(again, outcomes.Replayed)
    assert len(parts.graph.answers) == 1


def test_a_vote_counted_elsewhere_is_a_replay_and_a_second_click_a_duplicate(pair):
    [approval] = pair.pending(pair.start(requester="U0ASKER"))
    vote = Decision("approve", "U0ANN", receipt="entry-1")
    assert isinstance(pair.engine.decide(approval.id, vote), outcomes.VoteRecorded)

    replay = pair.engine.decide(approval.id, vote)
    twice = pair.engine.decide(approval.id, Decision("approve", "U0ANN", receipt="entry-2"))

    assert isinstance(replay, outcomes.Replayed)
    assert isinstance(twice, outcomes.VoteRecorded) and twice.ballot == "duplicate"
    assert pair.approval(approval.id).pending


def test_recounted_needs_a_duplicate_and_the_very_receipt():
    counted = Vote("U0ANN", 0, "approve", Decision("approve", "U0ANN", receipt="e1"))
    duplicate = Ballot("duplicate", votes=[counted])
    assert recounted(duplicate, Decision("approve", "U0ANN", receipt="e1"))
    assert not recounted(duplicate, Decision("approve", "U0ANN", receipt="e2"))
    assert not recounted(duplicate, Decision("approve", "U0ANN"))
    assert not recounted(Ballot("counted", votes=[counted]), counted.decision)


def test_a_vote_on_a_card_not_posted_yet_is_shown_once_it_is(db, clock):
    parts = engine_parts(db, clock, stage=Stage(approvers=("U0ANN", "U0BOB"), quorum=2))
    try:
        parts.publisher.post_as = "retry"  # the card is not posted yet
        [approval] = parts.pending(parts.start(requester="U0ASKER"))
        assert approval.ts is None

        outcome = parts.engine.decide(approval.id, Decision("approve", "U0ANN", via="api"))

        assert isinstance(outcome, outcomes.VoteRecorded)
        assert [a.id for a in parts.publisher.named("refresh")] == [approval.id]
    finally:
        parts.close()


def test_in_the_background_the_decision_is_applied_by_the_pool(parts, approval):
    outcome = parts.engine.decider.decide(
        approval.id, Decision("approve", "U0ASKER"), background=True
    )

    assert isinstance(outcome, outcomes.Applied) and outcome.applying is not None
    assert outcome.applying.result(5) is None  # applied, not refused
    assert len(parts.graph.answers) == 1
    assert parts.approval(approval.id).applied_at is not None
