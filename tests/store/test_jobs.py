"""The scheduler's rows (bot.store.jobs) on both real databases: a due job is leased to one
taker at a time, oldest first; an expiry only once its deadline's ack window is over; a failed
job comes back after its wait with its due time kept; a decided request's jobs are cancelled
but the running one and a pending card redraw."""

from __future__ import annotations

from bot.domain.timeline import PlannedJob
from bot.store.db.base import ACK_WINDOW

LEASE = 60.0


def _kinds(jobs) -> list[str]:
    return [job.kind for job in jobs]


def test_due_jobs_are_leased_oldest_first_to_one_taker_at_a_time(parts, approval, clock):
    store = parts.store
    store.add_job(approval.id, PlannedJob("escalate", clock.now + 20))
    store.add_job(approval.id, PlannedJob("remind", clock.now + 10))
    store.add_job(approval.id, PlannedJob("remind", clock.now + 500, level=1))  # not due
    clock.advance(30)

    claimed = store.claim_due_jobs(LEASE)
    assert _kinds(claimed) == ["remind", "escalate"]
    assert all(job.attempts == 1 for job in claimed)
    assert store.claim_due_jobs(LEASE) == []  # leased: no second taker
    clock.advance(LEASE + 1)  # the taker died: its lease ran out
    assert _kinds(store.claim_due_jobs(LEASE, limit=1)) == ["remind"]


def test_an_expiry_is_claimed_only_once_its_ack_window_is_over(parts, approval, clock):
    store = parts.store
    deadline = clock.now + 60
    store.add_job(approval.id, PlannedJob("expire", deadline))
    clock.advance(60)
    assert store.overdue_expiry(approval.id) is not None  # due: a click now is late...
    assert store.claim_due_jobs(LEASE) == []  # ... but the expiry waits out the window
    clock.advance(ACK_WINDOW - 0.5)
    assert store.claim_due_jobs(LEASE) == []
    clock.advance(0.5)
    [expiry] = store.claim_due_jobs(LEASE)
    assert (expiry.kind, expiry.due_at) == ("expire", deadline)


def test_a_failed_job_comes_back_after_its_wait_with_its_due_time_kept(parts, approval, clock):
    store = parts.store
    due = clock.now + 5
    store.add_job(approval.id, PlannedJob("remind", due))
    clock.advance(5)
    [job] = store.claim_due_jobs(LEASE)
    store.retry_job(job.id, 10.0, "Slack said ratelimited")

    clock.advance(9)
    assert store.claim_due_jobs(LEASE) == []
    clock.advance(2)
    [again] = store.claim_due_jobs(LEASE)
    assert (again.id, again.due_at, again.attempts) == (job.id, due, 2)
    store.finish_job(again.id)
    clock.advance(LEASE + 1)
    assert store.claim_due_jobs(LEASE) == []  # done: never again


def test_a_decided_requests_jobs_are_cancelled_but_the_running_one_and_a_redraw(
    parts, approval, clock
):
    store = parts.store
    for job in store.jobs_for(approval.id):  # whatever the default policy planned
        store.finish_job(job.id, "cancelled")
    store.add_job(approval.id, PlannedJob("remind", clock.now + 10))
    store.add_job(approval.id, PlannedJob("expire", clock.now + 60))
    store.add_job(approval.id, PlannedJob("refresh", clock.now))
    store.add_job(approval.id, PlannedJob("escalate", clock.now))  # the one being run
    [escalation] = [j for j in store.jobs_for(approval.id) if j.kind == "escalate"]

    store.cancel_jobs(approval.id, keep=escalation.id)

    statuses = {j.kind: j.status for j in store.jobs_for(approval.id) if j.status != "cancelled"}
    assert statuses == {"refresh": "pending", "escalate": "pending"}
    assert store.overdue_expiry(approval.id, clock.now + 100) is None  # the expiry is gone
