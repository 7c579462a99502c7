"""Claiming a request (bot.core.claiming) on both real databases: one conditional statement
moves it out of ``pending`` and closes what the decision ends; the loser gets nothing; with
``held``, a free run lock is taken and kept and the claim counts the first attempt under it,
a busy one is not waited for; and a claim whose answer was lost at its commit is read back, as
won only if this very click (its inbox receipt) is the one recorded."""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import replace

import pytest

from bot.core.claiming import Claimer, replayed
from bot.domain.models import Approval, Decision
from bot.domain.timeline import PlannedJob
from bot.store.audit_log import Audit
from tests.support.approvals import draft
from tests.support.held import held_in_thread
from tests.support.units import AnswerLost, losing


@pytest.fixture
def claimer(parts) -> Claimer:
    return Claimer(parts.store, parts.db, parts.engine.journal)


@pytest.fixture
def losing_claimer(parts) -> Claimer:
    """A claimer whose claim's answer is lost after it committed."""
    return Claimer(losing(parts.db, parts.clock, "claim"), parts.db, parts.engine.journal)


def _click(parts, approval: Approval, kind: str = "approve", user: str = "U0ASKER") -> Decision:
    """A click as the inbox hands it on: recorded first, its entry its receipt."""
    entry = parts.store.add_inbox(approval.id, Decision(kind, user), None)
    return Decision(kind, user, receipt=entry)


def test_a_claim_that_wins_decides_the_request_and_closes_its_jobs_and_audit(
    parts, approval, claimer, clock
):
    parts.store.add_job(approval.id, PlannedJob("remind", clock.now + 60))
    decision = _click(parts, approval)

    claimed, start = claimer.claim(approval, decision, entry=decision.receipt)

    assert claimed is not None and claimed.status == "approved"
    assert claimed.decided_by == "U0ASKER"
    assert start is None  # nothing held: applying it is the applier's (and its lock's) work
    stored = parts.approval(approval.id)
    assert (stored.status, stored.decision and stored.decision.receipt) == (
        "approved",
        decision.receipt,
    )
    assert [job.status for job in parts.store.jobs_for(approval.id)] == ["cancelled"]
    events = [e.event for e in Audit(parts.db, clock).for_run(approval.thread_id)]
    assert "approved" in events


def test_the_second_claim_gets_nothing_and_changes_nothing(parts, approval, claimer):
    first, _ = claimer.claim(approval, _click(parts, approval, "reject"))
    assert first is not None and first.status == "rejected"

    second, start = claimer.claim(approval, _click(parts, approval, "approve"))

    assert (second, start) == (None, None)
    stored = parts.approval(approval.id)
    assert stored.status == "rejected" and stored.decided_at == first.decided_at


def test_with_the_run_lock_free_the_claim_counts_its_first_attempt_and_keeps_the_lock(
    parts, approval, claimer
):
    held = ExitStack()
    with held:
        claimed, start = claimer.claim(approval, _click(parts, approval), held=held)

        assert claimed is not None and claimed.status == "approved"
        assert start is not None and start.approval.id == approval.id
        assert start.attempt.number == 1
        assert start.run.thread_id == approval.thread_id
        assert not _free_elsewhere(parts, approval.thread_id)  # kept until the resume
    assert _free_elsewhere(parts, approval.thread_id)


def test_a_lost_claim_under_a_free_lock_lets_the_lock_go_with_held(parts, approval, claimer):
    claimer.claim(approval, _click(parts, approval, "reject"))
    held = ExitStack()
    with held:
        assert claimer.claim(approval, _click(parts, approval), held=held) == (None, None)
    assert _free_elsewhere(parts, approval.thread_id)
    assert parts.approval(approval.id).status == "rejected"


def test_with_the_run_busy_the_claim_is_made_by_itself_without_waiting(parts, approval, claimer):
    release, holder = held_in_thread(lambda: parts.db.key_lock(approval.thread_id))
    try:
        held = ExitStack()
        with held:
            claimed, start = claimer.claim(approval, _click(parts, approval), held=held)
        assert claimed is not None and claimed.status == "approved"
        assert start is None  # not counted: the applier waits for the lock as usual
    finally:
        release.set()
        holder.join(5)


def test_a_claim_whose_answer_was_lost_after_it_won_is_read_back_as_won(
    parts, approval, losing_claimer
):
    claimer = losing_claimer
    decision = _click(parts, approval)

    claimed, start = claimer.claim(approval, decision, entry=decision.receipt)

    assert claimed is not None and claimed.status == "approved"
    assert claimed.decision is not None and claimed.decision.receipt == decision.receipt
    assert start is None


def test_a_claim_whose_answer_was_lost_before_it_reached_the_database_raises(parts, approval):
    store = losing(parts.db, parts.clock, "claim", committed=False)
    claimer = Claimer(store, parts.db, parts.engine.journal)

    with pytest.raises(AnswerLost):
        claimer.claim(approval, _click(parts, approval))
    assert parts.approval(approval.id).pending


def test_a_lost_answer_when_another_click_had_won_raises_and_is_never_read_as_won(
    parts, approval, claimer, losing_claimer
):
    other, _ = claimer.claim(approval, _click(parts, approval, "reject"))
    assert other is not None

    with pytest.raises(AnswerLost):
        losing_claimer.claim(approval, _click(parts, approval, "approve"))
    assert parts.approval(approval.id).status == "rejected"


def test_a_lost_answer_of_a_click_without_a_receipt_cannot_be_told_apart_and_raises(
    parts, approval, losing_claimer
):
    with pytest.raises(AnswerLost):
        losing_claimer.claim(approval, Decision("approve", "U0ASKER"))  # no inbox entry
    assert parts.approval(approval.id).status == "approved"  # it did win: the sweep applies it


def test_replayed_only_for_the_very_receipt_that_won():
    approval = draft("Hello team")
    won = Decision("approve", "U0ASKER", receipt="e1")
    decided = replace(approval, status="approved", decision=won)

    assert replayed(decided, Decision("approve", "U0ASKER", receipt="e1"))
    assert not replayed(decided, Decision("approve", "U0ASKER", receipt="e2"))
    assert not replayed(decided, Decision("approve", "U0ASKER"))  # no receipt: never
    assert not replayed(approval, Decision("approve", "U0ASKER", receipt="e1"))  # undecided
    undecided_receipt = replace(approval, decision=Decision("approve", "U0ASKER"))
    assert not replayed(undecided_receipt, Decision("approve", "U0ASKER", receipt=None))


def _free_elsewhere(parts, key: str) -> bool:
    """Whether another thread could take the run's lock now (the lock is re-entrant in one)."""
    free: list[bool] = []

    def attempt() -> None:
        try:
            with parts.db.try_lock(key):
                free.append(True)
        except Exception:
            free.append(False)

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(5)
    return free == [True]
