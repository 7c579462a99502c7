"""The click inbox's rows (bot.store.clicks) on both real databases: a click recorded already
taken under a lease, with its request and an expiry that fell due before it came; only the
lease's holder gives it back; the sweep sees what nobody holds; an expiry sees the clicks that
came before its deadline."""

from __future__ import annotations

from bot.domain.models import Decision
from bot.domain.timeline import PlannedJob

LEASE = 30.0


def _approve(user: str = "U0ASKER") -> Decision:
    return Decision("approve", user)


def test_a_click_is_recorded_taken_by_its_receiver_with_its_request(parts, approval, clock):
    store = parts.store
    received = store.receive_click(approval.id, _approve(), "C0CARDS", LEASE)
    taken = store.received_click(received)

    assert taken.entry.id == received.entry.id
    assert (taken.entry.attempts, taken.entry.locked_until) == (1, clock.now + LEASE)
    assert taken.approval is not None and taken.approval.id == approval.id
    assert taken.overdue is None
    assert store.take_click(taken.entry.id, LEASE) is None  # held: nobody else takes it


def test_a_click_after_the_deadline_comes_with_the_expiry_that_fell_due(parts, approval, clock):
    store = parts.store
    store.add_job(approval.id, PlannedJob("expire", clock.now + 60))
    clock.advance(60)  # at the deadline: late
    taken = store.received_click(store.receive_click(approval.id, _approve(), None, LEASE))
    assert taken.overdue is not None and taken.overdue.due_at == clock.now

    store.add_job(approval.id, PlannedJob("remind", clock.now))  # not an expiry: not said
    entry = store.add_inbox(approval.id, _approve(), None)
    retaken = store.take_click(entry, LEASE)
    assert retaken is not None and retaken.overdue is not None
    assert retaken.overdue.kind == "expire"


def test_only_the_lease_holder_gives_a_click_back(parts, approval, clock):
    store = parts.store
    first = store.receive_click(approval.id, _approve(), None, LEASE).entry
    clock.advance(LEASE + 1)  # the first taker stalled; a sweep takes it
    again = store.take_click(first.id, LEASE)
    assert again is not None and again.entry.attempts == 2

    store.release_inbox(first.id, first.locked_until or 0.0)  # the stalled one, late
    assert store.open_inbox(-1.0) == []  # still the second taker's
    store.release_inbox(first.id, again.entry.locked_until or 0.0)
    assert store.open_inbox(-1.0) == [first.id]


def test_the_sweep_lists_old_clicks_nobody_holds_oldest_first_and_never_finished_ones(
    parts, approval, clock
):
    store = parts.store
    older = store.add_inbox(approval.id, _approve(), None)
    clock.advance(5)
    newer = store.add_inbox(approval.id, _approve(), None)
    held = store.receive_click(approval.id, _approve(), None, LEASE).entry.id
    done = store.add_inbox(approval.id, _approve(), None)
    store.finish_inbox(done)

    assert store.open_inbox(older_than=3.0) == [older]  # the newer ones may still be worked on
    clock.advance(5)
    assert store.open_inbox(older_than=3.0) == [older, newer]  # ``held`` is leased
    clock.advance(LEASE)
    assert store.open_inbox(older_than=3.0) == [older, newer, held]
    assert store.open_inbox(older_than=3.0, limit=1) == [older]


def test_an_expiry_sees_the_unfinished_clicks_received_before_its_deadline(parts, approval, clock):
    store = parts.store
    before = store.add_inbox(approval.id, _approve(), None)
    finished = store.add_inbox(approval.id, _approve(), None)
    store.finish_inbox(finished)
    deadline = clock.now + 1
    clock.advance(1)
    at = store.add_inbox(approval.id, _approve(), None)  # received at the deadline: late

    assert store.earlier_clicks(approval.id, deadline) == [before]
    assert at not in store.earlier_clicks(approval.id, deadline)
