"""Carrying out a claimed decision (bot.core.applying), on both real databases: the graph is
resumed once, however often it is applied; a later attempt reads the checkpoint and never
answers a thread that already moved past the interrupt; a mark whose answer was lost is read
back; a run under way elsewhere leaves no attempt counted; a graph that refuses the answer has
the request asked again (its error kept within bounds), and one that refuses an expiry's
rejection stops the run; a cancelled run resumes nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.applying import REFUSAL_CHARS
from bot.core.ports import ResumeRefused, RunnerBusy, RunState
from bot.domain.models import Approval, Decision
from tests.support.units import losing


def claimed(parts, approval: Approval, decision: Decision | None = None) -> Approval:
    """The request claimed, as a click's claim leaves it, and not yet applied."""
    won = parts.store.claim(approval.id, decision or Decision("approve", "U0ASKER"))
    assert won is not None
    return won


def test_a_claimed_decision_is_applied_once_however_often_it_is_applied(parts, approval):
    decided = claimed(parts, approval)

    assert parts.engine.applier.apply(decided) is None
    assert parts.engine.applier.apply(decided) is None  # a second worker, the sweep

    assert [(i, d.type) for _, i, d in parts.graph.answers] == [("i1", "approve")]
    assert parts.approval(approval.id).applied_at is not None
    run = parts.store.get_run(approval.thread_id)
    assert run is not None and run.status == "done"


def test_a_request_without_a_decision_is_not_applied(parts, approval):
    assert parts.engine.applier.apply(approval) is None
    assert parts.graph.answers == []
    assert parts.approval(approval.id).pending


def test_a_later_attempt_never_answers_a_thread_already_past_the_interrupt(parts, approval):
    decided = claimed(parts, approval)
    parts.store.begin_apply(approval.id)  # an attempt that resumed, then crashed before its mark
    done = RunState(True, True, (), values={"decision": "approve"})
    parts.graph.states[approval.thread_id] = done

    parts.engine.applier.apply(decided)

    assert parts.graph.answers == []  # the checkpoint was read: it had the answer already
    assert parts.approval(approval.id).applied_at is not None
    assert parts.publisher.named("report") == [(approval.thread_id, "Finished: approve")]


def test_a_later_attempt_on_a_thread_that_died_mid_step_continues_it(parts, approval):
    decided = claimed(parts, approval)
    parts.store.begin_apply(approval.id)
    parts.graph.states[approval.thread_id] = RunState(True, False, ())  # stuck

    parts.engine.applier.apply(decided)

    assert parts.graph.answers == [] and parts.graph.proceeded == [approval.thread_id]


def test_a_mark_whose_answer_was_lost_after_it_committed_goes_on(parts, approval):
    parts.graph.interrupts = ("i1", "i2")  # the run goes on to ask the next
    parts.graph.states[approval.thread_id] = parts.graph.waiting()
    applier = replace(parts.engine.applier, store=losing(parts.db, parts.clock, "mark_applied"))

    applier.apply(claimed(parts, approval))

    assert parts.approval(approval.id).applied_at is not None
    assert [a.interrupt_id for a in parts.pending(parts.store.get_run(approval.thread_id))] == [
        "i2"
    ]


def test_a_mark_that_never_reached_the_database_leaves_the_decision_for_the_sweep(parts, approval):
    parts.graph.interrupts = ("i1", "i2")
    parts.graph.states[approval.thread_id] = parts.graph.waiting()
    store = losing(parts.db, parts.clock, "mark_applied", committed=False)
    applier = replace(parts.engine.applier, store=store)

    applier.apply(claimed(parts, approval))

    assert parts.approval(approval.id).applied_at is None
    assert len(parts.graph.answers) == 1


def test_a_run_under_way_elsewhere_counts_no_attempt(parts, approval):
    decided = claimed(parts, approval)
    parts.graph.fail_with = RunnerBusy("a run is under way")

    parts.engine.applier.apply(decided)

    assert parts.approval(approval.id).applied_at is None
    start = parts.store.begin_apply(approval.id)
    assert start is not None and start.attempt.number == 1  # the busy one was not counted


def test_an_answer_the_graph_refuses_is_asked_again_with_its_error_kept_short(parts, approval):
    decided = claimed(parts, approval)
    parts.graph.fail_with = ResumeRefused("seats come in pairs " + "x" * 5_000, ("i1",))

    reopened = parts.engine.applier.apply(decided)

    assert reopened is not None and reopened.pending
    assert reopened.version == approval.version + 1
    assert reopened.refused is not None and len(reopened.refused) == REFUSAL_CHARS
    assert reopened.refused.startswith("seats come in pairs")
    assert parts.approval(approval.id) == reopened
    assert ("refresh", reopened) in parts.publisher.calls


def test_a_refusal_of_another_interrupt_is_no_refusal_of_this_answer(parts, approval):
    decided = claimed(parts, approval)
    parts.graph.fail_with = ResumeRefused("not this one", ("i9",))

    assert parts.engine.applier.apply(decided) is None

    stored = parts.approval(approval.id)
    assert stored.status == "approved" and stored.applied_at is None  # not asked again
    assert [a.id for a in parts.store.unapplied_of_run(approval.thread_id)] == [approval.id]
    assert parts.publisher.named("run_failed") == []  # told only once the sweep gives up


def test_a_graph_that_refuses_an_expirys_rejection_stops_the_run(parts, approval):
    expiry = Decision("expire", "scheduler", reason="Expired after 2d")
    decided = claimed(parts, approval, expiry)
    parts.graph.fail_with = ResumeRefused("a rejection needs a reason", ("i1",))

    assert parts.engine.applier.apply(decided) is None

    run = parts.store.get_run(approval.thread_id)
    assert run is not None and run.status in ("stopped", "done")
    assert "The agent refused the rejection the deadline gave it" in (run.result or "")
    assert parts.approval(approval.id).applied_at is not None  # never asked again


def test_a_cancelled_run_resumes_nothing(parts, approval):
    decided = claimed(parts, approval)
    parts.store.set_run_status(approval.thread_id, "cancelled")

    parts.engine.applier.apply(decided)

    assert parts.graph.answers == []
    assert parts.approval(approval.id).applied_at is not None
    assert [a.id for a in parts.publisher.named("refresh")] == [approval.id]  # its card redrawn


@pytest.mark.parametrize("error", [ValueError("bad value"), TypeError("bad type")])
def test_an_answer_that_would_fail_the_same_again_is_given_up_at_once(parts, approval, error):
    decided = claimed(parts, approval)
    parts.graph.fail_with = error

    parts.engine.applier.apply(decided)

    [(thread, problem, was_decided)] = parts.publisher.named("run_failed")
    assert type(error).__name__ in problem and was_decided
    assert parts.store.unapplied_of_run(approval.thread_id) == []  # no sweep sends it again
    run = parts.store.get_run(approval.thread_id)
    assert run is not None and run.status == "failed"


def test_an_error_that_may_pass_is_left_for_the_sweep(parts, approval):
    decided = claimed(parts, approval)
    parts.graph.fail_with = ConnectionError("the model's server went away")

    parts.engine.applier.apply(decided)

    assert parts.publisher.named("run_failed") == []
    assert [a.id for a in parts.store.unapplied_of_run(approval.thread_id)] == [approval.id]
