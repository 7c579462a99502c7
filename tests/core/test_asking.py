"""Asking people for what a run waits on (bot.core.asking), on both real databases: each new pause
is recorded once (with its reminders and expiry) and its card posted once; a cancelled run asks
nothing; a finished one is reported; a run whose card is not posted for now still waits, one
whose card Slack refused does not; a request recorded though the answer was lost is asked as
usual; and a decision marked applied that the graph still waits on is applied again, or asked
again when the graph refused it."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core.ports import RunState
from bot.domain.models import Decision, RunRequest
from bot.domain.timeline import Policy
from bot.store.audit_log import Audit
from tests.support.units import AnswerLost, engine_parts, losing


def new_run(parts, thread: str = "t1"):
    request = RunRequest("draft", "draft a note", "U0ASKER", "C0ASK", "C0CARDS")
    return parts.store.create_run(thread, request)


def waiting(parts, *interrupts: str) -> RunState:
    parts.graph.interrupts = interrupts or ("i1",)
    return parts.graph.waiting()


def status(parts, run) -> str:
    found = parts.store.get_run(run.thread_id)
    assert found is not None
    return found.status


def test_each_new_pause_is_recorded_once_and_its_card_posted_once(parts, clock):
    run = new_run(parts)
    state = waiting(parts, "i1", "i2")

    parts.engine.asker.publish(run, state)
    parts.engine.asker.publish(run, state)  # the same pauses, seen again

    approvals = parts.store.run_approvals(run.thread_id)
    assert sorted(a.interrupt_id for a in approvals) == ["i1", "i2"]
    assert all(a.pending and a.ts is not None for a in approvals)
    assert len(parts.publisher.named("post")) == 2
    assert status(parts, run) == "waiting"
    events = [e.event for e in Audit(parts.db, clock).for_run(run.thread_id)]
    assert events.count("requested") == 2


def test_a_request_gets_the_reminders_and_expiry_of_its_policy(db, clock):
    policy = Policy(remind_after=60, expire_after=600)
    parts = engine_parts(db, clock, policy=policy)
    try:
        run = new_run(parts)
        parts.engine.asker.publish(run, waiting(parts))
        [approval] = parts.store.run_approvals(run.thread_id)
        jobs = {(j.kind, j.due_at) for j in parts.store.jobs_for(approval.id)}
        assert ("remind", clock.now + 60) in jobs and ("expire", clock.now + 600) in jobs
    finally:
        parts.close()


def test_a_cancelled_run_asks_nothing_more(parts):
    run = new_run(parts)
    parts.store.set_run_status(run.thread_id, "cancelled")

    parts.engine.asker.publish(run, waiting(parts))

    assert parts.store.run_approvals(run.thread_id) == []
    assert parts.publisher.calls == []
    assert status(parts, run) == "cancelled"


def test_a_finished_run_is_reported_and_done(parts):
    run = new_run(parts)
    done = RunState(True, True, (), values={"decision": "approve"})

    parts.engine.asker.publish(run, done)

    assert parts.store.run_approvals(run.thread_id) == []
    assert parts.publisher.named("report") == [(run.thread_id, "Finished: approve")]
    assert status(parts, run) == "done"


def test_a_card_not_posted_for_now_still_leaves_the_run_waiting(parts):
    parts.publisher.post_as = "retry"
    run = new_run(parts)

    parts.engine.asker.publish(run, waiting(parts))

    [approval] = parts.store.run_approvals(run.thread_id)
    assert approval.pending and approval.ts is None  # the sweep posts it later
    assert status(parts, run) == "waiting"


def test_a_card_slack_refused_leaves_the_run_to_be_closed_as_failed(parts):
    parts.publisher.post_as = "refused"
    run = new_run(parts)
    before = status(parts, run)

    parts.engine.asker.publish(run, waiting(parts))

    assert status(parts, run) == before != "waiting"


def test_a_request_recorded_though_its_answer_was_lost_is_asked_as_usual(parts):
    run = new_run(parts)
    asker = replace(parts.engine.asker, store=losing(parts.db, parts.clock, "add_approval"))

    asker.publish(run, waiting(parts))

    [approval] = parts.store.run_approvals(run.thread_id)
    assert approval.pending and approval.ts is not None
    assert status(parts, run) == "waiting"


def test_a_request_that_was_never_recorded_fails_the_step(parts):
    run = new_run(parts)
    store = losing(parts.db, parts.clock, "add_approval", committed=False)
    asker = replace(parts.engine.asker, store=store)
    before = status(parts, run)

    with pytest.raises(AnswerLost):
        asker.publish(run, waiting(parts))

    assert parts.store.run_approvals(run.thread_id) == []
    assert parts.publisher.named("post") == []
    assert status(parts, run) == before


def test_an_applied_decision_the_graph_never_had_is_applied_again(parts, approval):
    run = parts.store.get_run(approval.thread_id)
    assert run is not None
    still = parts.graph.waiting()  # what the graph waits on before the decision
    parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
    assert parts.approval(approval.id).applied_at is not None

    parts.engine.asker.publish(run, still)  # yet the graph still waits on it: it never had it

    again = parts.approval(approval.id)
    assert again.status == "approved" and again.applied_at is None  # for the sweep to apply
    assert status(parts, run) == "running"  # nothing to ask anybody


def test_an_applied_decision_the_graph_refused_is_asked_again(parts, approval):
    run = parts.store.get_run(approval.thread_id)
    assert run is not None
    still = parts.graph.waiting()
    parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
    refused = RunState(True, False, still.interrupts, refused={"i1": "the amount is too high"})

    parts.engine.asker.publish(run, refused)

    again = parts.approval(approval.id)
    assert again.pending and again.refused == "the amount is too high"
    assert again.version > approval.version
    assert status(parts, run) == "waiting"


def test_a_graph_that_is_still_running_elsewhere_is_not_second_guessed(parts, approval):
    run = parts.store.get_run(approval.thread_id)
    assert run is not None
    still = parts.graph.waiting()
    parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))

    parts.engine.asker.publish(run, replace(still, running=True))

    assert parts.approval(approval.id).applied_at is not None  # not reopened
