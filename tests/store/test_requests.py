"""The requests' rows (bot.store.requests) on both real databases: an interrupt is recorded once
with its jobs; a request signed by distinct people marks its whole run; a form sees an expiry
that fell due; every message showing a request is found again, cards only; and a card is posted
on time, retried with a count, or refused for good, closing its request and its run."""

from __future__ import annotations

import pytest

from bot.domain.models import CardPost, RunRequest
from bot.domain.review import Review
from bot.domain.signoff import SignOff, Stage
from bot.domain.timeline import PlannedJob
from bot.store.repository import Store

REVIEW = Review("plain", "Approval needed", ())


@pytest.fixture
def store(db, clock) -> Store:
    return Store(db, clock)


def new_run(store: Store, thread: str = "t1", approvals_channel: str = "C0CARDS"):
    request = RunRequest("draft", "draft a note", "U0ASKER", "C0ASK", approvals_channel)
    return store.create_run(thread, request)


def test_an_interrupt_is_recorded_once_with_its_jobs_once(store, clock):
    run = new_run(store)
    jobs = [PlannedJob("remind", clock.now + 60), PlannedJob("expire", clock.now + 600)]

    first = store.add_approval(run, "i1", {"v": 1}, REVIEW, jobs)
    again = store.add_approval(run, "i1", {"v": 2}, REVIEW, jobs)

    assert again.id == first.id and again.payload == first.payload
    assert sorted(j.kind for j in store.jobs_for(first.id)) == ["expire", "remind"]
    assert (first.status, first.channel, first.ts) == ("pending", "C0CARDS", None)
    assert store.find_approval(run.thread_id, "i1") == first
    assert store.find_approval(run.thread_id, "i2") is None
    assert store.get_approval("nope") is None


def test_a_request_goes_to_the_channel_it_is_given(store):
    run = new_run(store)
    approval = store.add_approval(run, "i1", {}, REVIEW, channel="C0STAGE2")
    assert approval.channel == "C0STAGE2"


def test_a_request_signed_by_distinct_people_marks_every_request_of_its_run(store):
    run, other = new_run(store), new_run(store, "t2")
    before = store.add_approval(run, "i1", {}, REVIEW)
    elsewhere = store.add_approval(other, "i1", {}, REVIEW)
    assert not before.distinct_run

    store.add_approval(run, "i2", {}, REVIEW, signoff=SignOff((Stage(),), distinct=True))
    after = store.add_approval(run, "i3", {}, REVIEW)  # later ones too

    assert store.get_approval(before.id).distinct_run  # type: ignore[union-attr]
    assert after.distinct_run
    assert not store.get_approval(elsewhere.id).distinct_run  # type: ignore[union-attr]


def test_a_form_sees_when_its_deadline_passed_until_the_expiry_runs(store, clock):
    run = new_run(store)
    approval = store.add_approval(run, "i1", {}, REVIEW, [PlannedJob("expire", clock.now + 60)])

    assert store.approval_for_form(approval.id) == (approval, None)
    clock.advance(60)
    found, overdue = store.approval_for_form(approval.id)
    assert found == approval and overdue == clock.now
    assert store.approval_for_form("nope") == (None, None)


def test_a_runs_requests_oldest_first_and_its_latest_card(store, clock):
    run = new_run(store)
    first = store.add_approval(run, "i1", {}, REVIEW)
    clock.advance(1)
    second = store.add_approval(run, "i2", {}, REVIEW)
    assert [a.id for a in store.run_approvals(run.thread_id)] == [first.id, second.id]

    assert store.latest_card(run.thread_id) is None  # no card posted yet
    store.set_card(first.id, "C0CARDS", "1.1")
    assert store.latest_card(run.thread_id).id == first.id  # type: ignore[union-attr]
    store.set_card(second.id, "C0CARDS", "1.2")
    assert store.latest_card(run.thread_id).id == second.id  # type: ignore[union-attr]


def test_the_requests_of_several_runs_in_one_read(store):
    one, two = new_run(store, "t1"), new_run(store, "t2")
    a = store.add_approval(one, "i1", {}, REVIEW)
    b = store.add_approval(two, "i1", {}, REVIEW)
    new_run(store, "t3")
    assert store.approvals_of_runs([]) == []
    assert {x.id for x in store.approvals_of_runs(["t1", "t2", "t1", "t3"])} == {a.id, b.id}


def test_every_message_showing_a_request_is_found_again_cards_only_count(store, clock):
    run = new_run(store)
    approval = store.add_approval(run, "i1", {}, REVIEW)
    lone = store.add_approval(run, "i2", {}, REVIEW)
    store.add_card_post(CardPost(approval.id, "card", "C0CARDS", "1.1"))
    clock.advance(1)
    store.add_card_post(CardPost(approval.id, "card", "D0BOSS", "2.1", person="U0BOSS"))
    store.add_card_post(CardPost(approval.id, "card", "D0BOSS", "2.9", person="U0BOSS"))  # again
    clock.advance(1)
    store.add_card_post(CardPost(approval.id, "notice", "C0ASK", "3.1"))
    store.add_card_post(CardPost(lone.id, "card", "C0CARDS", "1.2"))
    store.add_card_post(CardPost(lone.id, "notice", "C0ASK", "3.2"))

    posts = store.card_posts(approval.id)
    assert [(p.kind, p.channel, p.ts) for p in posts] == [
        ("card", "C0CARDS", "1.1"),
        ("card", "D0BOSS", "2.1"),  # a post made again keeps the first
        ("notice", "C0ASK", "3.1"),
    ]
    assert store.is_card_post(approval.id, "D0BOSS", "2.1")
    assert not store.is_card_post(approval.id, "D0BOSS", "2.9")
    assert not store.is_card_post(approval.id, "C0ASK", "3.1")  # a notice is no card
    assert not store.is_card_post(lone.id, "D0BOSS", "2.1")
    assert store.spread([approval.id, lone.id]) == {approval.id}  # a notice spreads nothing


# a card's post: due, retried, refused ------------------------------------------------------------
def test_a_card_never_tried_is_due_once_it_is_older_than_the_wait(store, clock):
    run = new_run(store)
    approval = store.add_approval(run, "i1", {}, REVIEW)
    assert store.cards_due(older_than=20) == []  # its first post may still be on its way
    clock.advance(21)
    assert [a.id for a in store.cards_due(older_than=20)] == [approval.id]
    store.set_card(approval.id, "C0CARDS", "1.1")
    assert store.cards_due(older_than=20) == []


def test_a_failed_post_is_counted_and_due_again_after_its_backoff(store, clock):
    run = new_run(store)
    approval = store.add_approval(run, "i1", {}, REVIEW)

    assert store.card_retry(approval.id, clock.now + 5, ()) == 1
    assert store.cards_due(older_than=600) == []  # backing off
    clock.advance(5)
    assert [a.card_attempts for a in store.cards_due(older_than=600)] == [1]
    assert store.card_retry(approval.id, clock.now + 10, ()) == 2

    store.set_card(approval.id, "C0CARDS", "1.1")  # posted meanwhile: nothing to count
    assert store.card_retry(approval.id, clock.now + 10, ()) == 0
    assert store.get_approval(approval.id).card_attempts == 2  # type: ignore[union-attr]


def test_cards_due_are_shared_out_per_channel(store, clock):
    busy = new_run(store, "t1", approvals_channel="C0BUSY")
    quiet = new_run(store, "t2", approvals_channel="C0QUIET")
    for n in range(4):
        store.add_approval(busy, f"i{n}", {}, REVIEW)
    calm = store.add_approval(quiet, "i1", {}, REVIEW)
    clock.advance(30)

    due = store.cards_due(older_than=20, per_channel=2)

    assert sorted(a.channel for a in due) == ["C0BUSY", "C0BUSY", "C0QUIET"]
    assert calm.id in {a.id for a in due}
    assert len(store.cards_due(older_than=20, limit=1)) == 1


def test_a_refused_card_closes_its_request_its_jobs_and_its_run(store, clock):
    run = new_run(store)
    store.set_run_status(run.thread_id, "waiting")
    approval = store.add_approval(run, "i1", {}, REVIEW, [PlannedJob("expire", clock.now + 60)])
    clock.advance(2)

    closed = store.card_refused(approval.id, "channel_not_found", ())

    assert closed is not None and closed.status == "failed"
    assert (closed.decided_by, closed.decided_at, closed.applied_at) == (
        "bot",
        clock.now,
        clock.now,
    )
    assert [j.status for j in store.jobs_for(approval.id)] == ["cancelled"]
    ended = store.get_run(run.thread_id)
    assert ended is not None and (ended.status, ended.result) == ("failed", "channel_not_found")
    assert store.card_refused(approval.id, "again", ()) is None  # once
    assert store.count_pending() == 0


def test_a_refused_card_leaves_a_run_that_already_ended_as_it_ended(store):
    run = new_run(store)
    approval = store.add_approval(run, "i1", {}, REVIEW)
    store.set_run_status(run.thread_id, "cancelled", "cancelled by U0ASKER")
    assert store.card_refused(approval.id, "channel_not_found", ()) is not None
    assert store.get_run(run.thread_id).status == "cancelled"  # type: ignore[union-attr]


def test_a_card_already_posted_is_never_refused(store):
    run = new_run(store)
    approval = store.add_approval(run, "i1", {}, REVIEW)
    store.set_card(approval.id, "C0CARDS", "1.1")
    assert store.card_refused(approval.id, "invalid_blocks", ()) is None
    assert store.get_approval(approval.id).pending  # type: ignore[union-attr]


def test_pending_requests_oldest_first_and_counted(store, clock):
    run = new_run(store)
    first = store.add_approval(run, "i1", {}, REVIEW)
    clock.advance(1)
    second = store.add_approval(run, "i2", {}, REVIEW)
    assert [a.id for a in store.pending()] == [first.id, second.id]
    assert [a.id for a in store.pending(limit=1)] == [first.id]
    assert store.count_pending() == 2
