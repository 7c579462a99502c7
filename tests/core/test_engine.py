"""The decision engine (bot.core.engine) on both real databases, with the real Store, SignOffTally
and Ledger and fakes for its ports: each decision, cancel and retry comes back as a typed
outcome (bot.core.outcomes), and only a decision that wins resumes the graph, once."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace

import pytest

from bot.agents.runner import RunState
from bot.core import outcomes
from bot.core.deciders import Directory, Why
from bot.core.expiry import ClickInFlight
from bot.core.outcomes import CancelKind, RetryKind
from bot.domain.models import Decision
from bot.domain.review import FULL_TEXT_LIMIT, FormField, Pending, Proposal, Review
from bot.domain.signoff import Section, SignOffs, Stage
from bot.domain.timeline import Policy
from bot.store.attempts import MAX_APPLY_ATTEMPTS
from bot.store.audit_log import Audit
from bot.store.db.base import ACK_WINDOW
from bot.store.db.locks import LockBusy
from bot.store.decisions import Closing
from bot.store.rules import Rule
from bot.store.rules import Rules as RuleRows
from bot.store.sql.rules import INSERT_RULE
from tests.support.units import FakeGraph, engine_parts


@pytest.fixture
def parts(db, clock):
    built = engine_parts(db, clock)
    yield built
    built.close()


def _card(approval) -> str:
    return f"message:{approval.channel}:{approval.ts}"


def test_a_started_run_records_its_request_and_posts_its_card(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    assert approval.interrupt_id == "i1"
    assert approval.requester == "U0ASKER"
    assert approval.channel == "C0CARDS"
    assert approval.ts is not None  # the publisher's post recorded the card
    assert [a.id for a in parts.publisher.named("post")] == [approval.id]
    assert parts.store.get_run(run.thread_id).status == "waiting"


def test_the_requester_decides_their_own_run_when_nobody_is_listed(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    decision = Decision("approve", "U0ASKER", origin=_card(approval), shows_request=True)

    outcome = parts.engine.decide(approval.id, decision)

    assert isinstance(outcome, outcomes.Applied)
    assert outcomes.won(outcome)
    assert outcome.approval.status == "approved"
    assert outcome.approval.decided_by == "U0ASKER"
    stored = parts.approval(approval.id)
    assert stored.status == "approved" and stored.applied_at is not None
    assert [(t, i, d.type) for t, i, d in parts.graph.answers] == [(run.thread_id, "i1", "approve")]
    done = parts.store.get_run(run.thread_id)
    assert (done.status, done.result) == ("done", "Finished: approve")
    assert parts.publisher.named("report") == [(run.thread_id, "Finished: approve")]


def test_anyone_else_is_refused_and_told_who_may_decide(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)

    outcome = parts.engine.decide(approval.id, Decision("approve", "U0STRANGER"))

    assert isinstance(outcome, outcomes.Refused)
    assert not outcomes.heard(outcome)
    assert outcome.refusal.why is Why.NOT_REQUESTER
    assert outcome.refusal.requester == "U0ASKER"
    assert parts.approval(approval.id).pending
    assert parts.graph.answers == []


def test_with_approvers_listed_only_they_decide_and_never_their_own_run(db, clock):
    stage = Stage(approvers=("U0BOSS", "S0TEAM"))
    parts = engine_parts(db, clock, stage=stage, groups={"S0TEAM": ["U0ANN"]})
    try:
        run = parts.start(requester="U0BOSS")
        [approval] = parts.pending(run)

        own = parts.engine.decide(approval.id, Decision("approve", "U0BOSS"))
        stranger = parts.engine.decide(approval.id, Decision("approve", "U0STRANGER"))
        assert isinstance(own, outcomes.Refused) and own.refusal.why is Why.OWN_RUN
        assert isinstance(stranger, outcomes.Refused) and stranger.refusal.why is Why.NOT_LISTED
        assert stranger.refusal.stage.approvers == ("U0BOSS", "S0TEAM")

        member = parts.engine.decide(approval.id, Decision("reject", "U0ANN", reason="no"))
        assert isinstance(member, outcomes.Applied)
        assert parts.approval(approval.id).status == "rejected"
        assert [d.type for _, _, d in parts.graph.answers] == ["reject"]
    finally:
        parts.close()


def test_a_group_that_cannot_be_resolved_refuses_everyone(db, clock):
    parts = engine_parts(db, clock, stage=Stage(approvers=("S0GONE",)))  # lookups fail
    try:
        run = parts.start()
        [approval] = parts.pending(run)
        outcome = parts.engine.decide(approval.id, Decision("approve", "U0ANYONE"))
        assert isinstance(outcome, outcomes.Refused)
        assert outcome.refusal.why is Why.UNCHECKED
        assert parts.approval(approval.id).pending
    finally:
        parts.close()


def test_a_late_click_is_told_who_decided_and_changes_nothing(parts, clock):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    first = parts.engine.decide(approval.id, Decision("reject", "U0ASKER"))
    assert isinstance(first, outcomes.Applied)
    clock.advance(5)

    late = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))

    assert isinstance(late, outcomes.AlreadyDecided)
    assert late.approval.status == "rejected"
    assert late.approval.decided_by == "U0ASKER"
    assert late.approval.decided_at == first.approval.decided_at
    assert len(parts.graph.answers) == 1


def test_two_clicks_at_once_resume_the_graph_once(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    barrier = threading.Barrier(4)
    results: list[outcomes.Outcome] = []

    def click(kind: str) -> None:
        barrier.wait(5)
        results.append(parts.engine.decide(approval.id, Decision(kind, "U0ASKER")))

    threads = [threading.Thread(target=click, args=(k,)) for k in ("approve", "reject") * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    won = [r for r in results if isinstance(r, outcomes.Applied)]
    assert len(results) == 4 and len(won) == 1
    assert all(isinstance(r, outcomes.AlreadyDecided) for r in results if r not in won)
    assert len(parts.graph.answers) == 1
    assert parts.graph.answers[0][2].type == won[0].approval.decision.type


def test_a_click_that_loses_the_claim_to_one_decided_meanwhile_changes_nothing(db, clock):
    """Another click is claimed while this one is being checked (its approvers' group looked
    up): the conditional claim refuses the second, whatever it read before."""
    decided: list[object] = []

    def lookup(group: str) -> list[str]:
        if not decided:  # the other person's click lands now
            [approval] = parts.pending(run)
            decided.append(parts.store.claim(approval.id, Decision("reject", "U0ANN")))
        return ["U0ANN", "U0BOB"]

    parts = engine_parts(db, clock, stage=Stage(approvers=("S0TEAM",)), groups=lookup)
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)

        outcome = parts.engine.decide(approval.id, Decision("approve", "U0BOB"))

        assert decided and decided[0] is not None
        assert isinstance(outcome, outcomes.AlreadyDecided)
        assert (outcome.approval.status, outcome.approval.decided_by) == ("rejected", "U0ANN")
        assert parts.graph.answers == []  # the loser resumes nothing
    finally:
        parts.close()


def test_unknown_request_is_not_found(parts):
    assert isinstance(parts.engine.decide("no-such", Decision("approve", "U0X")), outcomes.NotFound)


def test_a_choice_the_request_does_not_offer_changes_nothing(db, clock):
    parts = engine_parts(db, clock, graph=FakeGraph(choices=("approve", "reject")))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        outcome = parts.engine.decide(approval.id, Decision("edit", "U0ASKER", text="x"))
        assert isinstance(outcome, outcomes.NotOffered)
        assert parts.approval(approval.id).pending
        assert parts.graph.answers == []
    finally:
        parts.close()


def test_a_click_from_another_message_is_refused_and_a_stale_copy_retired(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)

    elsewhere = Decision("approve", "U0ASKER", origin="message:C0OTHER:1.1")
    outcome = parts.engine.decide(approval.id, elsewhere)
    assert isinstance(outcome, outcomes.NotFromCard)
    assert outcome.card_link == f"https://slack.test/C0CARDS/{approval.ts}"
    assert parts.publisher.named("retire_copy") == []  # not a copy of the card: left alone

    copy = Decision("approve", "U0ASKER", origin="message:C0CARDS:999.9", shows_request=True)
    outcome = parts.engine.decide(approval.id, copy)
    assert isinstance(outcome, outcomes.NotFromCard)
    assert parts.publisher.named("retire_copy") == [(approval.id, "999.9", outcome.card_link)]
    assert parts.approval(approval.id).pending
    assert parts.graph.answers == []


def test_the_click_that_already_won_is_a_replay_and_says_nothing(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    click = Decision("approve", "U0ASKER", receipt="entry-1")
    assert isinstance(parts.engine.decide(approval.id, click), outcomes.Applied)

    again = parts.engine.decide(approval.id, click)

    assert isinstance(again, outcomes.Replayed)
    assert len(parts.graph.answers) == 1


# votes -----------------------------------------------------------------------------------
@pytest.fixture
def quorum(db, clock):
    built = engine_parts(db, clock, stage=Stage(approvers=("U1", "U2", "U3"), quorum=2))
    yield built
    built.close()


def test_a_vote_short_of_the_quorum_is_recorded_with_who_is_still_needed(quorum):
    run = quorum.start(requester="U0ASKER")
    [approval] = quorum.pending(run)

    first = quorum.engine.decide(approval.id, Decision("approve", "U1"))

    assert isinstance(first, outcomes.VoteRecorded)
    assert outcomes.heard(first) and not outcomes.won(first)
    assert first.ballot == "counted"
    assert first.count.approvals == ("U1",)
    assert first.stage.quorum == 2 and first.stage.approvers == ("U1", "U2", "U3")
    assert quorum.approval(approval.id).pending
    assert quorum.graph.answers == []
    assert [a.id for a in quorum.publisher.named("refresh")] == [approval.id]  # votes shown

    twice = quorum.engine.decide(approval.id, Decision("approve", "U1"))
    assert isinstance(twice, outcomes.VoteRecorded) and twice.ballot == "duplicate"
    assert twice.count.approvals == ("U1",)

    second = quorum.engine.decide(approval.id, Decision("approve", "U2"))
    assert isinstance(second, outcomes.Applied)
    assert second.approval.decision.approvers == ["U1", "U2"]
    [(_, _, resumed)] = quorum.graph.answers
    assert (resumed.type, resumed.by, resumed.approvers) == ("approve", "U2", ["U1", "U2"])


def test_a_vote_for_a_version_since_edited_is_changed_and_the_card_redrawn(quorum):
    run = quorum.start(requester="U0ASKER")
    [approval] = quorum.pending(run)
    edit = Decision("edit", "U1", parameters={"text": "Hello all"}, version=1)
    edited = quorum.engine.decide(approval.id, edit)
    assert isinstance(edited, outcomes.VoteRecorded)
    assert quorum.approval(approval.id).version == 2
    redraws = len(quorum.publisher.named("refresh"))

    stale = quorum.engine.decide(approval.id, Decision("approve", "U2", version=1))

    assert isinstance(stale, outcomes.Changed)
    assert stale.approval.version == 2 and stale.approval.pending
    assert len(quorum.publisher.named("refresh")) == redraws + 1
    current = quorum.engine.decide(approval.id, Decision("approve", "U2", version=2))
    assert isinstance(current, outcomes.Applied)
    [(_, _, resumed)] = quorum.graph.answers
    assert resumed.type == "edit" and resumed.parameters == {"text": "Hello all"}


def test_enough_rejections_settle_a_counted_request(quorum):
    run = quorum.start(requester="U0ASKER")
    [approval] = quorum.pending(run)
    outcome = quorum.engine.decide(approval.id, Decision("reject", "U3", reason="no"))
    assert isinstance(outcome, outcomes.Applied)  # one rejection is enough by default
    assert quorum.approval(approval.id).status == "rejected"


def test_a_completed_stage_moves_on_and_its_people_are_called(db, clock):
    stages = (Stage("Finance", approvers=("U1",)), Stage("CFO", approvers=("U2",)))
    parts = engine_parts(db, clock, stages=stages)
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)

        first = parts.engine.decide(approval.id, Decision("approve", "U1"))
        assert isinstance(first, outcomes.VoteRecorded)
        assert first.ballot == "advanced"
        assert first.label == "Stage 2 of 2: CFO" and first.stage.approvers == ("U2",)
        assert parts.approval(approval.id).stage == 1
        [(shown, call, edited_by)] = parts.publisher.named("next_stage")
        assert (shown.id, call.label, edited_by) == (approval.id, "Stage 2 of 2: CFO", None)

        early = parts.engine.decide(approval.id, Decision("approve", "U1"))
        assert isinstance(early, outcomes.Refused)  # U1 is not the CFO

        last = parts.engine.decide(approval.id, Decision("approve", "U2"))
        assert isinstance(last, outcomes.Applied)
        assert last.approval.decision.approvers == ["U1", "U2"]
    finally:
        parts.close()


# expiry ------------------------------------------------------------------------------------
def test_a_click_at_the_deadline_is_late_but_leaves_the_expiry_to_after_its_window(db, clock):
    parts = engine_parts(db, clock, policy=Policy(remind_after=None, expire_after=60))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        clock.advance(60)  # at the deadline: late, as any click after it

        outcome = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))

        # A click received before the deadline may still be being written, and would win:
        # this one neither counts nor expires the request while that may be so.
        assert outcome == outcomes.Expiring(outcome.approval, approval.created_at + 60)
        assert parts.store.get_approval(approval.id).pending
        assert parts.graph.answers == []
    finally:
        parts.close()


def test_a_click_after_the_deadline_finds_the_request_expired(db, clock):
    parts = engine_parts(db, clock, policy=Policy(remind_after=None, expire_after=60))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        clock.advance(60 + ACK_WINDOW)  # the bot was down when it fell due

        outcome = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))

        assert isinstance(outcome, outcomes.AlreadyDecided)
        assert outcome.approval.status == "expired"
        [(_, _, resumed)] = parts.graph.answers
        assert (resumed.type, resumed.effective_type) == ("expire", "reject")
    finally:
        parts.close()


def _expiring_quorum(db, clock, expire_as: str):
    stage = Stage(approvers=("U1", "U2", "U3"), quorum=2)
    policy = Policy(remind_after=None, expire_after=60, expire_as=expire_as)
    return engine_parts(db, clock, stage=stage, policy=policy)


def test_expiry_as_approve_runs_neither_the_replaced_original_nor_an_unsigned_edit(db, clock):
    # U1 edits under a quorum of two: a new version that waits for a second signer. Nobody
    # signs it in time. Approving on expiry would run the original U1 set aside (the expiry
    # carries no edit): the request is rejected instead, and says why.
    parts = _expiring_quorum(db, clock, "approve")
    try:
        [approval] = parts.pending(parts.start(requester="U0ASKER"))
        edit = Decision("edit", "U1", parameters={"text": "Hello all"}, version=1)
        assert isinstance(parts.engine.decide(approval.id, edit), outcomes.VoteRecorded)
        assert parts.approval(approval.id).version == 2 and parts.graph.answers == []
        resumed = _expired_as_approve(parts, clock, approval.id)
        assert (resumed.type, resumed.effective_type) == ("expire", "reject")
        assert resumed.reason.endswith("rejected automatically: an edit was waiting for signatures")
        assert parts.approval(approval.id).status == "expired"
    finally:
        parts.close()


def test_expiry_as_approve_with_votes_but_no_edit_still_approves(db, clock):
    parts = _expiring_quorum(db, clock, "approve")
    try:
        [approval] = parts.pending(parts.start(requester="U0ASKER"))
        vote = parts.engine.decide(approval.id, Decision("approve", "U1"))
        assert isinstance(vote, outcomes.VoteRecorded)
        resumed = _expired_as_approve(parts, clock, approval.id)
        assert (resumed.type, resumed.effective_type) == ("expire", "approve")
    finally:
        parts.close()


def test_expiry_as_approve_never_runs_what_an_approver_rejected(db, clock):
    # rejections: 2, so U1's "no" alone does not end the request; nobody else answers in time.
    # Approving on expiry would run what an approver looked at and refused: it expires
    # rejected, and says why.
    stage = Stage(approvers=("U1", "U2", "U3"), quorum=2, rejections=2)
    policy = Policy(remind_after=None, expire_after=60, expire_as="approve")
    parts = engine_parts(db, clock, stage=stage, policy=policy)
    try:
        [approval] = parts.pending(parts.start(requester="U0ASKER"))
        no = parts.engine.decide(approval.id, Decision("reject", "U1", reason="wrong numbers"))
        assert isinstance(no, outcomes.VoteRecorded) and parts.approval(approval.id).pending
        resumed = _expired_as_approve(parts, clock, approval.id)
        assert (resumed.type, resumed.effective_type) == ("expire", "reject")
        assert resumed.reason.endswith("rejected automatically: an approver rejected it")
        assert parts.approval(approval.id).status == "expired"
    finally:
        parts.close()


def _expired_as_approve(parts, clock, approval_id: str) -> Decision:
    """Past the deadline of a request whose policy expires it as approved: the expiry run, and
    the decision the graph was resumed with."""
    clock.advance(61)
    job = parts.store.overdue_expiry(approval_id)
    assert job is not None and job.detail.get("as") == "approve"
    assert parts.engine.expire(parts.approval(approval_id), job) is True
    [(_, _, resumed)] = parts.graph.answers
    return resumed


@contextlib.contextmanager
def _click_near_the_deadline(db, clock, before: float) -> Iterator[tuple]:
    """Process A records an Approve ``before`` seconds ahead of the deadline (taken under its
    lease, before the ack); the deadline passes. Process B's scheduler holds the expiry job.
    Yields (a, b, the request, the click as received, the job)."""
    policy = Policy(remind_after=None, expire_after=60)
    a, b = engine_parts(db, clock, policy=policy), engine_parts(db, clock, policy=policy)
    try:
        [approval] = a.pending(a.start(requester="U0ASKER"))
        clock.advance(60 - before)
        click = Decision("approve", "U0ASKER")
        received = a.store.receive_click(approval.id, click, "C0CARDS", a.engine.inbox_lease)
        clock.advance(2 * before)
        job = b.store.overdue_expiry(approval.id)
        assert job is not None
        yield a, b, approval, received, job
    finally:
        a.close()
        b.close()


def test_an_in_time_click_another_process_holds_goes_before_the_expiry(db, clock):
    # A's worker gets to the click only after B's scheduler reaches the expiry.
    with _click_near_the_deadline(db, clock, before=1) as (a, b, approval, received, job):
        with pytest.raises(ClickInFlight):  # the scheduler retries the job later
            b.engine.expire(b.approval(approval.id), job)
        a.engine.inbox._process_received(received)
        assert b.engine.expire(b.approval(approval.id), job) is False  # decided meanwhile

        assert [d.type for _, _, d in a.graph.answers + b.graph.answers] == ["approve"]
        assert a.approval(approval.id).status == "approved"


def _click_and_expiry_at_once(db, clock) -> str:
    """One race: the click handled by A's worker at the moment B's scheduler reaches the
    expiry. The request's status."""
    with _click_near_the_deadline(db, clock, before=0.5) as (a, b, approval, received, job):
        gate = threading.Barrier(2)

        def worker() -> None:
            gate.wait(5)
            a.engine.inbox._process_received(received)

        def scheduler() -> None:
            gate.wait(5)
            with contextlib.suppress(ClickInFlight):
                b.engine.expire(b.approval(approval.id), job)

        threads = [threading.Thread(target=worker), threading.Thread(target=scheduler)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        return a.approval(approval.id).status


def test_an_in_time_click_and_the_expiry_at_once_never_lose_the_click(db, clock):
    assert [_click_and_expiry_at_once(db, clock) for _ in range(8)] == ["approved"] * 8


def test_a_click_received_before_the_deadline_wins_though_handled_after(db, clock):
    parts = engine_parts(db, clock, policy=Policy(remind_after=None, expire_after=60))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        received = clock() + 30
        clock.advance(90)

        outcome = parts.engine.decide(
            approval.id, Decision("approve", "U0ASKER"), received_at=received
        )

        assert isinstance(outcome, outcomes.Applied)
        assert parts.approval(approval.id).status == "approved"
        assert [j.status for j in parts.store.jobs_for(approval.id)] == ["cancelled"]
    finally:
        parts.close()


def test_at_the_deadline_a_click_received_in_time_but_not_yet_handled_goes_first(db, clock):
    parts = engine_parts(db, clock, policy=Policy(remind_after=None, expire_after=60))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        clock.advance(30)
        parts.store.add_inbox(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")  # acked
        clock.advance(31)  # a backlog (or a crash) kept the bot from it until now
        job = parts.store.overdue_expiry(approval.id)
        assert job is not None

        assert parts.engine.expire(approval, job) is False

        assert parts.approval(approval.id).status == "approved"
        [(_, _, resumed)] = parts.graph.answers
        assert resumed.type == "approve"
        assert isinstance(parts.publisher.told[0][0], outcomes.Applied)
    finally:
        parts.close()


# failures and retry -------------------------------------------------------------------------
def test_a_resume_that_fails_leaves_the_run_failed_and_retry_applies_it_again(db, clock):
    parts = engine_parts(db, clock, graph=FakeGraph(fail_with=RuntimeError("model down")))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        outcome = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
        assert isinstance(outcome, outcomes.Applied)  # the claim won; carrying it out failed
        failed = parts.store.get_run(run.thread_id)
        assert failed.status == "failed"
        assert failed.result == "RuntimeError: model down"
        assert parts.approval(approval.id).applied_at is None

        parts.graph.fail_with = None
        retried = parts.control.retry(run.thread_id, "U0ASKER")

        assert retried == outcomes.Retry(RetryKind.RETRYING, run.thread_id)
        assert len(parts.graph.answers) == 2
        assert parts.approval(approval.id).applied_at is not None
        assert parts.store.get_run(run.thread_id).status == "done"
    finally:
        parts.close()


class Crash(BaseException):
    """The process dies here (nothing after it runs, nothing catches it)."""


def test_a_retry_cut_off_after_the_run_is_running_again_is_finished_by_the_sweep(
    db, clock, monkeypatch
):
    """A person pressed Retry on a decision given up on, and the process died (or the answer
    was lost) once the run was marked running again: its decision is still applied (by the
    recovery sweep), not left given up under a run that no Retry may touch any more (it is not
    "failed") and that no sweep can move on (it waits on a decided request)."""
    parts = engine_parts(db, clock, graph=FakeGraph(fail_with=ValueError("bad args")))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
        assert parts.store.get_run(run.thread_id).status == "failed"  # given up at once
        parts.graph.fail_with = None  # fixed
        retry_run = parts.store.retry_run

        def dies_after(*args, **kwargs):
            retry_run(*args, **kwargs)
            raise Crash

        monkeypatch.setattr(parts.store, "retry_run", dies_after)
        with pytest.raises(Crash):
            parts.control.retry(run.thread_id, "U0ASKER")
        monkeypatch.undo()

        for _ in range(3):
            clock.advance(parts.engine.stale_after + 1)
            parts.engine.recover()
        assert parts.approval(approval.id).applied_at is not None
        assert len(parts.graph.answers) == 2
        assert parts.store.get_run(run.thread_id).status == "done"
    finally:
        parts.close()


def test_retry_of_a_run_that_did_not_fail_or_does_not_exist(parts):
    run = parts.start()
    assert parts.control.retry(run.thread_id, "U0ASKER") == outcomes.Retry(
        RetryKind.NOT_FAILED, run.thread_id, "waiting"
    )
    assert parts.control.retry("nope", "U0ASKER") == outcomes.Retry(RetryKind.NOT_FOUND, "nope")
    assert parts.graph.proceeded == []


def test_a_decision_that_stops_the_run_reports_and_resumes_nothing_after(db, clock):
    parts = engine_parts(db, clock, graph=FakeGraph(stop_with="Stopped: rejected"))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        outcome = parts.engine.decide(approval.id, Decision("reject", "U0ASKER"))
        assert isinstance(outcome, outcomes.Applied)
        done = parts.store.get_run(run.thread_id)
        assert (done.status, done.result) == ("done", "Stopped: rejected")
        assert parts.publisher.named("report") == [(run.thread_id, "Stopped: rejected")]
    finally:
        parts.close()


# cancel --------------------------------------------------------------------------------------
def test_cancel_closes_the_pending_requests_and_nothing_resumes(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)

    cancelled = parts.control.cancel(run, "U0ASKER")

    assert cancelled == outcomes.Cancel(CancelKind.CANCELLED, run.thread_id)
    closed = parts.approval(approval.id)
    assert closed.status == "cancelled" and closed.applied_at is not None
    stored = parts.store.get_run(run.thread_id)
    assert (stored.status, stored.result) == ("cancelled", "Cancelled by U0ASKER.")
    assert parts.publisher.named("cancelled") == [(run.thread_id, "U0ASKER")]
    assert parts.graph.stopped == [run.thread_id]

    again = parts.control.cancel(run, "U0ASKER")
    assert again == outcomes.Cancel(CancelKind.FINISHED, run.thread_id, "cancelled")
    late = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
    assert isinstance(late, outcomes.AlreadyDecided)
    assert parts.graph.answers == []


def test_cancel_after_a_decision_was_claimed_is_too_late(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    assert parts.store.claim(approval.id, Decision("approve", "U0ASKER")) is not None

    outcome = parts.control.cancel(run, "U0ASKER")

    assert outcome == outcomes.Cancel(CancelKind.TOO_LATE, run.thread_id)
    assert parts.approval(approval.id).status == "approved"
    assert parts.store.get_run(run.thread_id).status == "waiting"
    assert parts.publisher.named("cancelled") == []


# recovery ------------------------------------------------------------------------------------
def test_a_decision_claimed_but_never_applied_is_finished_by_the_sweep(parts, clock):
    """A crash came between the claim and the resume: the sweep resumes the graph, once."""
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    parts.store.claim(approval.id, Decision("approve", "U0ASKER"))

    parts.engine.recover()  # too fresh: it may still be under way elsewhere
    assert parts.graph.answers == []

    clock.advance(parts.engine.stale_after + 1)
    parts.engine.recover()
    parts.engine.recover()

    assert [(i, d.type) for _, i, d in parts.graph.answers] == [("i1", "approve")]
    assert parts.approval(approval.id).applied_at is not None
    assert parts.store.get_run(run.thread_id).status == "done"


def test_a_run_recorded_but_never_started_is_started_by_the_sweep(parts, clock):
    from bot.domain.models import RunRequest

    request = RunRequest("draft", "draft a note", "U0ASKER", "C0ASK", "C0CARDS")
    run = parts.store.create_run("crashed-before-its-first-step", request)
    clock.advance(parts.engine.stale_after + 1)

    parts.engine.recover()

    [approval] = parts.pending(run)
    assert approval.ts is not None  # its card was posted
    assert parts.store.get_run(run.thread_id).status == "waiting"


def test_a_click_recorded_but_never_worked_on_is_applied_by_the_sweep(parts, clock):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    entry = parts.store.add_inbox(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")

    clock.advance(parts.engine.inbox_lease + 1)
    parts.engine.recover()

    assert parts.approval(approval.id).status == "approved"
    assert parts.approval(approval.id).decision.receipt == entry
    [(outcome, channel, user)] = parts.publisher.told
    assert isinstance(outcome, outcomes.Applied) and (channel, user) == ("C0CARDS", "U0ASKER")


# before a modal opens --------------------------------------------------------------------------
def test_precheck_says_why_a_modal_should_not_open(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    card = _card(approval)

    assert parts.engine.precheck(approval.id, "U0ASKER", card, True) == (approval, None)
    found, stranger = parts.engine.precheck(approval.id, "U0BOB", card, True)
    assert isinstance(stranger, outcomes.Refused) and stranger.refusal.why is Why.NOT_REQUESTER
    _, old = parts.engine.precheck(approval.id, "U0ASKER", card, True, version=0)
    assert isinstance(old, outcomes.Changed)
    assert parts.engine.precheck("nope", "U0ASKER") == (None, outcomes.NotFound())
    _, elsewhere = parts.engine.precheck(approval.id, "U0ASKER", "message:C0X:1.1", True)
    assert isinstance(elsewhere, outcomes.NotFromCard)

    parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
    _, late = parts.engine.precheck(approval.id, "U0ASKER", card, True)
    assert isinstance(late, outcomes.AlreadyDecided)


def test_a_run_that_fails_before_any_decision_tells_its_requester_and_retries(db, clock):
    class Failing(FakeGraph):
        broken = True

        def start(self, run):
            if self.broken:
                raise ValueError("model said no")
            return super().start(run)

    parts = engine_parts(db, clock, graph=Failing())
    try:
        run = parts.start(requester="U0ASKER")
        failed = parts.store.get_run(run.thread_id)
        assert (failed.status, failed.result) == ("failed", "ValueError: model said no")
        assert parts.publisher.named("run_failed") == [
            (run.thread_id, "ValueError: model said no", False)
        ]

        parts.graph.broken = False
        assert parts.control.retry(run.thread_id, "U0ASKER").kind is RetryKind.RETRYING
        [approval] = parts.pending(run)
        assert approval.ts is not None
        assert parts.store.get_run(run.thread_id).status == "waiting"
    finally:
        parts.close()


class BusyRuns:
    """The database, except that every run's lock is held elsewhere past the wait."""

    def __init__(self, db) -> None:
        self._db = db

    def __getattr__(self, name):
        return getattr(self._db, name)

    def key_lock(self, key, wait=30.0):
        from bot.store.db.locks import LockBusy

        raise LockBusy(key, wait)


def test_cancel_of_a_run_held_by_a_long_step_changes_nothing(db, clock):
    parts = engine_parts(db, clock)
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        parts.engine.db = BusyRuns(db)

        outcome = parts.control.cancel(run, "U0ASKER")

        assert outcome == outcomes.Cancel(CancelKind.BUSY, run.thread_id)
        assert parts.approval(approval.id).pending
        assert parts.store.get_run(run.thread_id).status == "waiting"
        assert parts.publisher.named("cancelled") == []
    finally:
        parts.close()


def test_an_edit_at_a_later_stage_goes_back_for_the_earlier_stage_to_sign(db, clock):
    stages = (Stage("Finance", approvers=("U1",)), Stage("CFO", approvers=("U2",)))
    parts = engine_parts(db, clock, stages=stages)
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        assert parts.engine.decide(approval.id, Decision("approve", "U1")).ballot == "advanced"

        edit = Decision("edit", "U2", parameters={"amount": "90"}, version=1)
        returned = parts.engine.decide(approval.id, edit)

        assert isinstance(returned, outcomes.VoteRecorded)
        assert returned.ballot == "returned"
        assert returned.label == "Stage 1 of 2: Finance"
        current = parts.approval(approval.id)
        assert (current.stage, current.version) == (0, 2)
        (_, call, edited_by) = parts.publisher.named("next_stage")[-1]
        assert (call.label, edited_by) == ("Stage 1 of 2: Finance", "U2")

        stale = parts.engine.decide(approval.id, Decision("approve", "U1", version=1))
        assert isinstance(stale, outcomes.Changed)
        signed = parts.engine.decide(approval.id, Decision("approve", "U1", version=2))
        assert isinstance(signed, outcomes.Applied)
        [(_, _, resumed)] = parts.graph.answers
        assert (resumed.type, resumed.parameters) == ("edit", {"amount": "90"})
        assert resumed.approvers == ["U1", "U2"]
    finally:
        parts.close()


# a run elsewhere (a LangGraph Server) ----------------------------------------------------------
def test_a_decision_waits_for_the_run_under_way_and_is_applied_once_it_settles(parts):
    from dataclasses import replace

    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    waiting = parts.graph.states[run.thread_id]
    parts.graph.effects_here = False  # a runner on a server: its thread can be under way there
    parts.graph.states[run.thread_id] = replace(waiting, running=True)

    outcome = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))

    assert isinstance(outcome, outcomes.Applied)  # claimed: it will be carried out
    assert parts.graph.answers == []
    assert parts.approval(approval.id).applied_at is None

    parts.graph.states[run.thread_id] = waiting  # the server says the thread settled
    parts.engine.settled(run.thread_id)

    assert [d.type for _, _, d in parts.graph.answers] == ["approve"]
    assert parts.approval(approval.id).applied_at is not None


def test_an_agent_server_that_is_away_leaves_the_decision_for_later_and_says_so_once(db, clock):
    from bot.core.ports import RunnerUnavailable

    graph = FakeGraph(fail_with=RunnerUnavailable("the agent server did not answer"))
    parts = engine_parts(db, clock, graph=graph)
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        assert isinstance(
            parts.engine.decide(approval.id, Decision("approve", "U0ASKER")), outcomes.Applied
        )
        clock.advance(parts.engine.stale_after + 1)
        parts.engine.recover()  # still away

        assert parts.approval(approval.id).applied_at is None
        assert parts.publisher.named("server_away") == [
            (run.thread_id, "the agent server did not answer", True)
        ]
        assert parts.store.get_run(run.thread_id).status != "failed"

        graph.fail_with = None
        clock.advance(parts.engine.stale_after + 1)
        parts.engine.recover()
        assert parts.approval(approval.id).applied_at is not None
        assert parts.store.get_run(run.thread_id).status == "done"
    finally:
        parts.close()


def test_with_the_real_worker_pool_work_happens_after_the_call_returns(db, clock):
    from bot.runtime.worker import Worker
    from tests.support.units import wait_until

    worker = Worker(max_workers=2)
    parts = engine_parts(db, clock, worker=worker)
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = wait_until(
            lambda: [a for a in parts.pending(run) if a.ts is not None], what="the card"
        )

        outcome = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"), background=True)

        assert isinstance(outcome, outcomes.Applied)  # claimed now, resumed in the pool
        wait_until(lambda: parts.approval(approval.id).applied_at, what="the resume")
        assert [d.type for _, _, d in parts.graph.answers] == ["approve"]
        wait_until(lambda: parts.store.get_run(run.thread_id).status == "done", what="done")
    finally:
        worker.shutdown()
        parts.close()


def test_parallel_interrupts_get_a_card_each_and_the_run_ends_with_the_last(db, clock):
    parts = engine_parts(db, clock, graph=FakeGraph(interrupts=("i1", "i2")))
    try:
        run = parts.start(requester="U0ASKER")
        first, second = parts.pending(run)
        assert {first.interrupt_id, second.interrupt_id} == {"i1", "i2"}
        assert first.ts and second.ts and first.ts != second.ts
        assert first.thread_ts is None and second.thread_ts is None  # siblings, side by side

        assert isinstance(
            parts.engine.decide(first.id, Decision("approve", "U0ASKER")), outcomes.Applied
        )
        assert parts.store.get_run(run.thread_id).status == "waiting"
        assert parts.publisher.named("report") == []

        assert isinstance(
            parts.engine.decide(second.id, Decision("reject", "U0ASKER")), outcomes.Applied
        )
        assert [(i, d.type) for _, i, d in parts.graph.answers] == [
            (first.interrupt_id, "approve"),
            (second.interrupt_id, "reject"),
        ]
        assert parts.store.get_run(run.thread_id).status == "done"
        assert len(parts.publisher.named("report")) == 1
    finally:
        parts.close()


def test_with_distinct_signers_one_person_signs_one_of_two_requests_even_at_once(db, clock):
    stage = Stage(approvers=("U1", "U2"))
    graph = FakeGraph(interrupts=("i1", "i2"))
    parts = engine_parts(db, clock, stage=stage, distinct=True, graph=graph)
    try:
        run = parts.start(requester="U0ASKER")
        first, second = parts.pending(run)
        barrier = threading.Barrier(2)
        results: dict[str, outcomes.Outcome] = {}

        def click(approval) -> None:
            barrier.wait(5)
            results[approval.id] = parts.engine.decide(approval.id, Decision("approve", "U1"))

        threads = [threading.Thread(target=click, args=(a,)) for a in (first, second)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)

        kinds = sorted(type(r).__name__ for r in results.values())
        assert kinds == ["Applied", "Refused"]
        [refused] = [r for r in results.values() if isinstance(r, outcomes.Refused)]
        assert refused.refusal.why is Why.SIGNED_BEFORE
        other = parts.engine.decide(refused.approval.id, Decision("approve", "U2"))
        assert isinstance(other, outcomes.Applied)
    finally:
        parts.close()


def test_with_distinct_signers_a_vote_standing_on_an_open_request_counts_on_the_other(db, clock):
    # Two requests of one run open at once, each needing two approvals: U1's vote on the first
    # stands while it collects its second, so U1 may not approve the second as well.
    stage = Stage(approvers=("U1", "U2", "U3"), quorum=2)
    graph = FakeGraph(interrupts=("i1", "i2"))
    parts = engine_parts(db, clock, stage=stage, distinct=True, graph=graph)
    try:
        run = parts.start(requester="U0ASKER")
        first, second = parts.pending(run)
        counted = parts.engine.decide(first.id, Decision("approve", "U1"))
        assert isinstance(counted, outcomes.VoteRecorded)
        refused = parts.engine.decide(second.id, Decision("approve", "U1"))
        assert isinstance(refused, outcomes.Refused)
        assert refused.refusal.why is Why.SIGNED_BEFORE
        assert isinstance(
            parts.engine.decide(first.id, Decision("approve", "U2")), outcomes.Applied
        )
        assert parts.store.get_approval(first.id).signers == ["U1", "U2"]
        # The second still needs two people who signed nothing else: U3 is one of them.
        assert isinstance(
            parts.engine.decide(second.id, Decision("approve", "U3")), outcomes.VoteRecorded
        )
        assert parts.store.get_approval(second.id).pending
        assert [interrupt for _, interrupt, _ in graph.answers] == [first.interrupt_id]
    finally:
        parts.close()


class _EmailBeside(FakeGraph):
    """Two requests open at once: the graph's own pause, and a ``send_email`` call beside it."""

    def waiting(self) -> RunState:
        email = {"type": "tool_approval", "tool_call_id": "c2", "name": "send_email", "args": {}}
        own = Pending("i1", {"text": "Hello team"}, node="review")
        return RunState(True, False, (own, Pending("i2", email, node="review")))


@pytest.mark.parametrize("order", ["graph's first", "email's first"])
def test_a_distinct_graph_s_signer_signs_no_other_request_of_its_run_in_either_order(
    db, clock, order
):
    # The graph says distinct; send_email has a section of its own (other people, U1 among
    # them) that says nothing of it. U1 approves one request, then the other: whichever comes
    # first, the graph's request and another of its run are never signed by one person.
    graph = _EmailBeside(interrupts=("i1", "i2"))
    parts = engine_parts(db, clock, graph=graph)
    try:
        parts.tally.signoffs = SignOffs(
            Section(Stage(approvers=("U1", "U2")), distinct=True),
            actions={"send_email": Section(Stage(approvers=("U1", "U3")))},
        )
        by_interrupt = {a.interrupt_id: a for a in parts.pending(parts.start(requester="U0A"))}
        own, email = by_interrupt["i1"], by_interrupt["i2"]
        first, second = (own, email) if order == "graph's first" else (email, own)
        signed = parts.engine.decide(first.id, Decision("approve", "U1"))
        assert isinstance(signed, outcomes.Applied)

        refused = parts.engine.decide(second.id, Decision("approve", "U1"))

        assert isinstance(refused, outcomes.Refused)
        assert refused.refusal.why is Why.SIGNED_BEFORE
        assert parts.approval(second.id).pending
        assert [interrupt for _, interrupt, _ in graph.answers] == [first.interrupt_id]
    finally:
        parts.close()


EMAIL_DISTINCT = {"send_email": Section(Stage(approvers=("U1", "U3")), distinct=True)}


@pytest.mark.parametrize("order", ["email's first", "graph's first"])
def test_an_action_s_distinct_signer_signs_no_other_request_of_its_run(db, clock, order):
    # send_email's section says distinct; the graph's (U1 among its people too) says nothing
    # of it. Whichever U1 approves first, the other request of the run is not U1's to sign.
    graph = _EmailBeside(interrupts=("i1", "i2"))
    parts = engine_parts(db, clock, graph=graph)
    try:
        parts.tally.signoffs = SignOffs(
            Section(Stage(approvers=("U1", "U2"))), actions=EMAIL_DISTINCT
        )
        by_interrupt = {a.interrupt_id: a for a in parts.pending(parts.start(requester="U0A"))}
        own, email = by_interrupt["i1"], by_interrupt["i2"]
        first, second = (email, own) if order == "email's first" else (own, email)
        signed = parts.engine.decide(first.id, Decision("approve", "U1"))
        assert isinstance(signed, outcomes.Applied)

        refused = parts.engine.decide(second.id, Decision("approve", "U1"))

        assert isinstance(refused, outcomes.Refused)
        assert refused.refusal.why is Why.SIGNED_BEFORE
        assert parts.approval(second.id).pending
        assert [interrupt for _, interrupt, _ in graph.answers] == [first.interrupt_id]
        assert isinstance(
            parts.engine.decide(second.id, Decision("approve", "U2" if second is own else "U3")),
            outcomes.Applied,
        )
    finally:
        parts.close()


def _held_in_its_check(parts, approval, user: str, meanwhile) -> outcomes.Outcome:
    """``user`` decides ``approval`` (whose stage lists the group S0TEAM), held between
    reading the run's requests and claiming (the group's lookup) until ``meanwhile(go)`` has
    called ``go()``; what came of it."""
    checking, go = threading.Event(), threading.Event()
    looked: list[str] = []

    def members(group: str) -> list[str]:
        if not looked:
            looked.append(group)
            checking.set()
            assert go.wait(10), "the other click never went"
        return ["U1", "U2"]

    parts.tally.directory = Directory(members, ttl=0)
    result: list[outcomes.Outcome] = []
    clicker = threading.Thread(
        target=lambda: result.append(parts.engine.decide(approval.id, Decision("approve", user)))
    )
    clicker.start()
    assert checking.wait(10), "the click never reached its check"
    meanwhile(go.set)
    clicker.join(20)
    assert result, "the click never finished"
    return result[0]


def test_an_action_s_distinct_holds_for_two_clicks_at_once_on_the_run_s_two_requests(
    db, clock, monkeypatch
):
    # U1 clicks the graph's request and, at once, the send_email call beside it: while the
    # first is being checked, the second is decided. Exactly one of them goes through.
    graph = _EmailBeside(interrupts=("i1", "i2"))
    parts = engine_parts(db, clock, graph=graph)
    try:
        parts.tally.signoffs = SignOffs(
            Section(Stage(approvers=("S0TEAM",))), actions=EMAIL_DISTINCT
        )
        by_interrupt = {a.interrupt_id: a for a in parts.pending(parts.start(requester="U0A"))}
        own, email = by_interrupt["i1"], by_interrupt["i2"]
        key_lock, went = parts.db.key_lock, threading.Event()

        def waited(key: str, wait: float = 30.0):
            # The email's click lets the held one go on once it waits for the sign-off's lock
            # (which the held click holds), or once it is decided.
            if key.startswith("signoff:") and threading.current_thread().name == "email":
                try:
                    with parts.db.try_lock(key):
                        pass
                except LockBusy:
                    went.set()
            return key_lock(key, wait)

        monkeypatch.setattr(parts.db, "key_lock", waited)
        decided: list[outcomes.Outcome] = []

        def click() -> None:
            decided.append(parts.engine.decide(email.id, Decision("approve", "U1")))
            went.set()

        other = threading.Thread(target=click, name="email")

        def email_clicked(go) -> None:
            other.start()
            assert went.wait(10), "the email's click neither waited nor was decided"
            go()

        first = _held_in_its_check(parts, own, "U1", email_clicked)
        other.join(20)

        results = [first, *decided]
        assert sorted(type(r).__name__ for r in results) == ["Applied", "Refused"]
        [refused] = [r for r in results if isinstance(r, outcomes.Refused)]
        assert refused.refusal.why is Why.SIGNED_BEFORE
        assert len(graph.answers) == 1
    finally:
        parts.close()


def test_a_request_s_click_checked_before_a_distinct_sibling_was_recorded_is_checked_again(
    db, clock
):
    # The run waits on its graph's request; U1's click on it is read and checked, and before
    # it is claimed the run also asks for a send_email call (distinct), which U1 approves.
    # The first click, checked when nothing of the run was distinct, is not claimed as it was.
    class _EmailLater(_EmailBeside):
        later = False

        def waiting(self) -> RunState:
            state = super().waiting()
            return state if self.later else RunState(True, False, state.interrupts[:1])

    graph = _EmailLater(interrupts=("i1", "i2"))
    parts = engine_parts(db, clock, graph=graph)
    try:
        parts.tally.signoffs = SignOffs(
            Section(Stage(approvers=("S0TEAM",))), actions=EMAIL_DISTINCT
        )
        run = parts.start(requester="U0A")
        [own] = parts.pending(run)
        signed: list[outcomes.Outcome] = []

        def email_asked_and_signed(go) -> None:
            graph.later = True
            graph.states[run.thread_id] = graph.waiting()
            parts.engine.advance(run.thread_id)
            [email] = [a for a in parts.pending(run) if a.interrupt_id == "i2"]
            signed.append(parts.engine.decide(email.id, Decision("approve", "U1")))
            go()

        refused = _held_in_its_check(parts, own, "U1", email_asked_and_signed)

        assert isinstance(signed[0], outcomes.Applied)
        assert isinstance(refused, outcomes.Refused)
        assert refused.refusal.why is Why.SIGNED_BEFORE
        assert parts.approval(own.id).pending
        assert [interrupt for _, interrupt, _ in graph.answers] == ["i2"]
    finally:
        parts.close()


PAYMENT = {"to": "XX00ATTACKER", "amount": 9999}  # a plain interrupt(args) of a model's payment
DISGUISES = {  # keys the model adds to it, naming a harmless action
    "per_call": {"type": "tool_approval", "name": "get_weather", "args": {"city": "Paris"}},
    "action": {"kind": "action", "action_type": "get_weather", "parameters": {"city": "Paris"}},
}


@pytest.mark.parametrize("disguise", sorted(DISGUISES))
def test_keys_a_model_adds_to_a_plain_pause_never_take_it_from_its_graph_s_approvers(
    db, clock, disguise
):
    # Only U0BOSS decides the graph's pauses; get_weather's section lets requesters approve
    # their own calls. The model adds keys naming get_weather (a per-call request's, or the
    # bot's action shape's) to the arguments the graph pauses on and pays: the graph's
    # approvers still have to sign.
    graph = FakeGraph(value={**PAYMENT, **DISGUISES[disguise]})
    parts = engine_parts(db, clock, graph=graph)
    try:
        parts.tally.signoffs = SignOffs(
            Section(Stage(approvers=("U0BOSS",))),
            actions={"get_weather": Section(Stage(approvers=("U0ASKER",), allow_self=True))},
        )
        [approval] = parts.pending(parts.start(requester="U0ASKER"))

        parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))

        assert parts.approval(approval.id).pending and graph.answers == []
        assert isinstance(
            parts.engine.decide(approval.id, Decision("approve", "U0BOSS")), outcomes.Applied
        )
        assert [d.by for _, _, d in graph.answers] == ["U0BOSS"]
    finally:
        parts.close()


@pytest.mark.parametrize("quorum", [1, 2])
def test_a_requester_s_own_api_token_cannot_approve_their_run_by_naming_someone_else(
    db, clock, quorum
):
    # U0DESK holds an on_behalf token and may not approve their own run: naming Alice through
    # the token is still their hand, alone (quorum 1) or as one of two signatures (quorum 2).
    stage = Stage(approvers=("U0ALICE", "U0BOB", "U0DESK"), quorum=quorum, allow_self=False)
    parts = engine_parts(db, clock, stage=stage)
    try:
        parts.tally.holders = {"desk": "U0DESK"}
        [approval] = parts.pending(parts.start(requester="U0DESK"))
        as_alice = Decision("approve", "U0ALICE", via="api", on_behalf_of="desk", hand="U0DESK")
        refused = parts.engine.decide(approval.id, as_alice)
        assert isinstance(refused, outcomes.Refused)
        assert refused.refusal.why is Why.OWN_RUN
        bob = parts.engine.decide(approval.id, Decision("approve", "U0BOB"))
        assert not isinstance(bob, outcomes.Applied) if quorum == 2 else True
        assert parts.store.get_approval(approval.id).pending is (quorum == 2)
        assert len(parts.graph.answers) == (0 if quorum == 2 else 1)
        assert parts.store.get_approval(approval.id).signers in ([], ["U0BOB"])
    finally:
        parts.close()


def test_a_run_a_token_asked_for_in_someone_s_name_is_not_approved_by_the_token_s_holder(db, clock):
    # U0DESK's on_behalf token starts a run in Alice's name: Desk asked for it as much as
    # Alice did, and may approve it no more than she may, by a click or through the token.
    stage = Stage(approvers=("U0ALICE", "U0BOB", "U0DESK"), allow_self=False)
    parts = engine_parts(db, clock, stage=stage)
    try:
        parts.tally.holders = {"desk": "U0DESK"}
        run = parts.start(requester="U0ALICE", token="desk")
        [approval] = parts.pending(run)
        as_bob = Decision("approve", "U0BOB", via="api", on_behalf_of="desk", hand="U0DESK")
        for decision in (Decision("approve", "U0DESK"), Decision("approve", "U0ALICE"), as_bob):
            refused = parts.engine.decide(approval.id, decision)
            assert isinstance(refused, outcomes.Refused), decision
            assert refused.refusal.why is Why.OWN_RUN
        bob = parts.engine.decide(approval.id, Decision("approve", "U0BOB"))
        assert isinstance(bob, outcomes.Applied)
        [started] = [e for e in Audit(db).since(0) if e.event == "started"]
        assert (started.actor, started.detail["via"]) == ("U0ALICE", "api")
        assert started.detail["on_behalf_of"] == "desk"
    finally:
        parts.close()


def test_an_ignore_made_on_version_1_never_settles_the_version_2_an_edit_made_meanwhile(db, clock):
    # Ignore settles a counted request at once, without a vote: it must be for the version
    # the request has under the sign-off's guard, where edits make new versions, not the one
    # it had when the click read it. The click is held just before the guard until Alice's
    # edit (version 2) is counted.
    stage = Stage(approvers=("U1", "U2", "U3"), quorum=2)
    graph = FakeGraph(choices=("approve", "edit", "reject", "ignore"))
    parts = engine_parts(db, clock, stage=stage, graph=graph)
    real_guard = parts.tally.guard
    try:
        for _ in range(2):
            [approval] = parts.pending(parts.start(requester="U0ASKER"))
            read, edited = threading.Event(), threading.Event()

            @contextlib.contextmanager
            def guard(request, read=read, edited=edited):
                if threading.current_thread().name == "ignore":
                    read.set()
                    assert edited.wait(10)
                with real_guard(request):
                    yield

            parts.tally.guard = guard
            got: dict[str, object] = {}
            ignore = Decision("ignore", "U2", origin=_card(approval), version=1)
            clicker = threading.Thread(
                target=lambda a=approval, i=ignore, g=got: g.update(o=parts.engine.decide(a.id, i)),
                name="ignore",
            )
            clicker.start()
            assert read.wait(10)
            edit = Decision("edit", "U1", text="changed", origin=_card(approval), version=1)
            assert isinstance(parts.engine.decide(approval.id, edit), outcomes.VoteRecorded)
            edited.set()
            clicker.join(20)
            parts.tally.guard = real_guard
            final = parts.store.get_approval(approval.id)
            assert (type(got["o"]), final.status, final.version) == (
                outcomes.Changed,
                "pending",
                2,
            )
    finally:
        parts.tally.guard = real_guard
        parts.close()


def test_a_quorum_completed_through_a_token_records_its_holder(db, clock):
    stage = Stage(approvers=("U1", "U0ALICE", "U0DESK"), quorum=2)
    parts = engine_parts(db, clock, stage=stage)
    try:
        parts.tally.holders = {"desk": "U0DESK"}
        [approval] = parts.pending(parts.start(requester="U0ASKER"))
        assert isinstance(
            parts.engine.decide(approval.id, Decision("approve", "U1")), outcomes.VoteRecorded
        )
        as_alice = Decision("approve", "U0ALICE", via="api", on_behalf_of="desk", hand="U0DESK")
        assert isinstance(parts.engine.decide(approval.id, as_alice), outcomes.Applied)
        decided = parts.store.get_approval(approval.id).decision
        assert (decided.on_behalf_of, decided.hand) == ("desk", "U0DESK")
    finally:
        parts.close()


def test_a_cancel_racing_a_decision_is_never_both(parts):
    for _ in range(4):
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        barrier = threading.Barrier(2)
        got: dict[str, object] = {}

        def cancel(run=run, barrier=barrier, got=got) -> None:
            barrier.wait(5)
            got["cancel"] = parts.control.cancel(run, "U0ASKER")

        def approve(approval=approval, barrier=barrier, got=got) -> None:
            barrier.wait(5)
            got["decide"] = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))

        threads = [threading.Thread(target=cancel), threading.Thread(target=approve)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)

        resumed = [a for a in parts.graph.answers if a[0] == run.thread_id]
        status = parts.store.get_run(run.thread_id).status
        if isinstance(got["decide"], outcomes.Applied):  # carried out, not undone
            assert got["cancel"].kind in (CancelKind.TOO_LATE, CancelKind.FINISHED)
            assert len(resumed) == 1 and status == "done"
        else:
            assert isinstance(got["decide"], outcomes.AlreadyDecided)
            assert got["cancel"].kind is CancelKind.CANCELLED
            assert resumed == [] and status == "cancelled"


# the claim and the first attempt at applying it, in one ---------------------------------------
def _attempts(parts, approval_id: str) -> tuple[int, int]:
    row = parts.store.db.fetch_one(
        "SELECT apply_attempts, apply_fence FROM approvals WHERE id = %(id)s", {"id": approval_id}
    )
    assert row is not None
    return int(row["apply_attempts"]), int(row["apply_fence"])


def test_a_click_on_a_free_run_is_claimed_and_begun_under_its_lock_which_is_given_back(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    begun: list[str] = []
    parts.store.begin_apply = lambda approval_id: begun.append(approval_id)  # type: ignore[method-assign]

    outcome = parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))

    assert isinstance(outcome, outcomes.Applied)
    assert begun == []  # the claim counted the attempt itself
    assert _attempts(parts, approval.id) == (1, 1)
    assert [d.type for _, _, d in parts.graph.answers] == ["approve"]
    assert parts.approval(approval.id).applied_at is not None
    taken = threading.Event()

    def another_thread() -> None:
        with parts.store.db.try_lock(run.thread_id):
            taken.set()

    other = threading.Thread(target=another_thread)
    other.start()
    other.join(10)
    assert taken.is_set(), "the run's lock was kept after the decision"


def test_a_click_that_loses_its_claim_under_the_lock_counts_no_attempt(parts):
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    parts.engine.decide(approval.id, Decision("reject", "U0ASKER"))
    assert _attempts(parts, approval.id) == (1, 1)

    late = parts.engine.decider.claimer.claim(  # a claim that lost the race, made under the lock
        parts.approval(approval.id), Decision("approve", "U0ASKER"), held=ExitStack()
    )

    assert late == (None, None)
    assert _attempts(parts, approval.id) == (1, 1)
    assert parts.approval(approval.id).status == "rejected"


def test_a_click_on_a_busy_run_is_claimed_alone_and_applied_once_the_run_is_free(parts):
    from tests.support.units import wait_until

    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    held, go = threading.Event(), threading.Event()

    def busy_step() -> None:  # another worker's long step holds the run
        with parts.store.db.key_lock(run.thread_id):
            held.set()
            go.wait(10)

    other = threading.Thread(target=busy_step)
    other.start()
    assert held.wait(10)
    decided: list[outcomes.Outcome] = []
    click = threading.Thread(
        target=lambda: decided.append(
            parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
        )
    )
    click.start()
    wait_until(lambda: parts.approval(approval.id).status == "approved", what="the claim")
    assert _attempts(parts, approval.id) == (0, 0)  # claimed, not begun: the run is busy
    assert parts.graph.answers == []

    go.set()
    click.join(10)
    other.join(10)

    assert isinstance(decided[0], outcomes.Applied)
    assert _attempts(parts, approval.id) == (1, 1)  # begun once the lock was free
    assert [d.type for _, _, d in parts.graph.answers] == ["approve"]
    assert parts.approval(approval.id).applied_at is not None


class _LongBatch(FakeGraph):
    """Two calls whose full text is longer than "View full text" holds."""

    def describe(self, graph: str, pending: Pending) -> Review:
        calls = (Proposal("post", choices=("approve", "edit", "reject")),) * 2
        return Review("hitl", "Two calls", calls, long_text="x" * (FULL_TEXT_LIMIT + 1))


def test_a_batch_too_long_to_read_in_full_is_signed_call_by_call_never_as_a_whole(db, clock):
    stage = Stage(approvers=("U1", "U2", "U3"), quorum=2)
    parts = engine_parts(db, clock, stage=stage, graph=_LongBatch())
    try:
        [approval] = parts.pending(parts.start(requester="U0ASKER"))
        blind = parts.engine.decide(approval.id, Decision("approve", "U1"))
        assert isinstance(blind, outcomes.NotOffered)
        items = [{"type": "edit", "values": {"text": "edited"}}, {"type": "approve"}]
        edited = parts.engine.decide(approval.id, Decision("each", "U1", items=items, version=1))
        assert isinstance(edited, outcomes.VoteRecorded)
        # Approve is how the others sign an edit that stands, but not on this batch.
        sign = Decision("approve", "U2", version=2)
        assert isinstance(parts.engine.decide(approval.id, sign), outcomes.NotOffered)
        assert parts.approval(approval.id).pending and parts.graph.answers == []
    finally:
        parts.close()


class _EditableBatch(FakeGraph):
    """Ten short calls, each with a text its reviewers may edit (up to Slack's 3,000)."""

    def describe(self, graph: str, pending: Pending) -> Review:
        text = FormField("text", "Text", "multiline", initial="short")
        call = Proposal("post", details=(("text", "short"),), choices=("approve", "edit", "reject"))
        return Review("hitl", "Ten calls", (replace(call, form=(text,)),) * 10, long_text="short")


def test_an_edit_that_makes_a_batch_too_long_to_read_in_full_is_signed_call_by_call(db, clock):
    """Short as proposed, so Approve all was offered; but the edit that stands makes each call
    3,000 characters: the card no longer offers "Approve as edited" (nobody could read all of
    it in one place), and an Approve of that version from any door is refused, not counted."""
    stage = Stage(approvers=("U1", "U2", "U3"), quorum=2)
    parts = engine_parts(db, clock, stage=stage, graph=_EditableBatch())
    try:
        [approval] = parts.pending(parts.start(requester="U0ASKER"))
        long = [{"type": "edit", "values": {"text": "x" * 3000}}] * 10
        edited = parts.engine.decide(approval.id, Decision("each", "U1", items=long, version=1))
        assert isinstance(edited, outcomes.VoteRecorded)
        blind = parts.engine.decide(approval.id, Decision("approve", "U2", version=2))
        assert isinstance(blind, outcomes.NotOffered)
        assert parts.approval(approval.id).pending and parts.graph.answers == []
        # Call by call, each read in full, the same version is signed.
        each = Decision("each", "U2", items=[{"type": "approve"}] * 10, version=2)
        assert isinstance(parts.engine.decide(approval.id, each), outcomes.Applied)
        [(_, _, applied)] = parts.graph.answers
        assert applied.items == long and applied.approvers == ["U1", "U2"]
    finally:
        parts.close()


class _EmailFirst(FakeGraph):
    """Two requests open at once, the ``send_email`` call recorded first, the graph's own
    pause beside it after."""

    def waiting(self) -> RunState:
        email = {"type": "tool_approval", "tool_call_id": "c2", "name": "send_email", "args": {}}
        own = Pending("i1", {"text": "Hello team"}, node="review")
        return RunState(True, False, (Pending("i2", email, node="review"), own))


class _RuleOfU1:
    """A remembered approval U1 made, which covers the graph's own pause (``i1``)."""

    def __init__(self, store, db, clock) -> None:
        self.store = store
        self.rows = RuleRows(db)
        row = db.fetch_one(
            INSERT_RULE,
            {
                "graph": "draft",
                "action": "",
                "step": "review",
                "requester": "U0A",
                "channel": "C1",
                "match": "{}",
                "created_by": "U1",
                "now": clock(),
                "expires_at": clock() + 3600,
                "approval_id": "earlier",
                "thread_id": "t0",
            },
        )
        self.rule = Rule.from_row(row)

    def offer(self, *_) -> tuple[int, ...]:
        return ()

    def matching(self, run, approval):
        return self.rule if approval.interrupt_id == "i1" else None

    def settle(self, approval, rule, closing):
        return self.store.claim_by_rule(approval.id, rule.id, closing)


def test_a_rule_of_u1_does_not_approve_a_request_beside_a_distinct_one_u1_signed_meanwhile(
    db, clock, monkeypatch
):
    # The run's send_email (distinct) is recorded, then the graph's own pause beside it, which
    # U1's remembered approval covers. While that rule's maker is being checked (a user group's
    # lookup), U1 approves the send_email. U1 signs one of them, never both.
    graph = _EmailFirst(interrupts=("i1", "i2"))
    checking, go, went = threading.Event(), threading.Event(), threading.Event()
    looked: list[str] = []

    def members(group: str) -> list[str]:
        if not looked:  # the rule's check, in the run's first step
            looked.append(group)
            checking.set()
            assert go.wait(10), "the click never went"
        return ["U1", "U2"]

    parts = engine_parts(db, clock, graph=graph, groups=members, rules=_RuleOfU1)
    try:
        parts.tally.signoffs = SignOffs(
            Section(Stage(approvers=("S0TEAM",))), actions=EMAIL_DISTINCT
        )
        key_lock = parts.db.key_lock

        def waited(key: str, wait: float = 30.0):
            # The click lets the rule's check go on once it waits for the sign-off's lock.
            if key.startswith("signoff:") and threading.current_thread().name == "click":
                try:
                    with parts.db.try_lock(key):
                        pass
                except LockBusy:
                    went.set()
            return key_lock(key, wait)

        monkeypatch.setattr(parts.db, "key_lock", waited)
        started = threading.Thread(target=lambda: parts.start(requester="U0A"))
        started.start()
        assert checking.wait(10), "the rule was never checked"
        [email] = [a for a in parts.store.pending(10) if a.interrupt_id == "i2"]
        decided: list[outcomes.Outcome] = []

        def click() -> None:
            decided.append(parts.engine.decide(email.id, Decision("approve", "U1")))

        clicker = threading.Thread(target=click, name="click")
        clicker.start()
        while not went.is_set() and parts.approval(email.id).pending:
            went.wait(0.01)  # the click waits for the rule's check, or it claimed the email
        go.set()
        started.join(20)
        clicker.join(20)

        signed = [
            a.interrupt_id
            for a in parts.store.run_approvals(email.thread_id)
            if not a.pending and a.decided_by == "U1"
        ]
        assert len(signed) == 1, signed
        assert len(decided) == 1
    finally:
        go.set()
        parts.close()


def test_a_give_up_by_an_attempt_a_later_one_took_over_from_changes_nothing(parts):
    """An attempt that lost the run's lock mid-step and then failed for good gives nothing up:
    the later attempt carries the decision. The latest attempt's give-up fails its run with it,
    in the same transaction (no sweep finds the run under way meanwhile and steps it again)."""
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    claimed = parts.store.claim(approval.id, Decision("approve", "U0ASKER"), Closing())
    assert claimed is not None
    first = parts.store.count_apply(approval.id)
    later = parts.store.count_apply(approval.id)

    assert not parts.store.give_up_apply(approval.id, first.fence, "ValueError: late")
    assert _attempts(parts, approval.id) == (2, 2)
    assert parts.store.get_run(run.thread_id).status == "waiting"

    assert parts.store.give_up_apply(approval.id, later.fence, "ValueError: for good")
    assert _attempts(parts, approval.id) == (MAX_APPLY_ATTEMPTS, 2)
    failed = parts.store.get_run(run.thread_id)
    assert (failed.status, failed.result) == ("failed", "ValueError: for good")
    assert parts.store.unapplied(older_than=-1) == []
