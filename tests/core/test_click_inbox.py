"""The click inbox (bot.core.click_inbox) on both real databases: a click is durable before
anything is done with it, it is worked on under a lease (one taker at a time, a dead taker's
lease runs out), the clicker hears the outcome once, and a click that keeps failing is given
up with the clicker told."""

from __future__ import annotations

from concurrent.futures import Future

import pytest

from bot.core import outcomes
from bot.core.click_inbox import MAX_ATTEMPTS, Inbox
from bot.domain.models import Decision


class HeldWorker:
    """A worker pool that keeps what it is given until the test runs it."""

    def __init__(self) -> None:
        self.queued: list[tuple[object, tuple[object, ...]]] = []

    def submit(self, fn, *args) -> Future:
        self.queued.append((fn, args))
        return Future()

    def run_all(self) -> None:
        queued, self.queued = self.queued, []
        for fn, args in queued:
            fn(*args)


class Decider:
    """Engine.decide's place: records its calls, answers with ``outcome`` or raises ``error``."""

    def __init__(self) -> None:
        self.calls: list[tuple] = []
        self.error: Exception | None = None
        self.outcome: outcomes.Outcome = outcomes.NotFound()

    def __call__(self, approval_id, decision, channel, received_at, background, click=None):
        # ``click``: the entry as taken, with its request (read once, with the take)
        self.calls.append((approval_id, decision, channel, received_at, background))
        if self.error is not None:
            raise self.error
        return self.outcome


class PutOff:
    """Inbox.later's place: keeps each retry put off, with its wait, until the test runs it."""

    def __init__(self) -> None:
        self.waiting: list[tuple[float, object]] = []

    def __call__(self, seconds, what) -> None:
        self.waiting.append((seconds, what))

    def run_all(self) -> None:
        waiting, self.waiting = self.waiting, []
        for _, what in waiting:
            what()


@pytest.fixture
def worker():
    return HeldWorker()


@pytest.fixture
def decide():
    return Decider()


@pytest.fixture
def inbox(parts, worker, decide):
    return Inbox(parts.store, worker, parts.publisher, decide, lease=30.0, later=PutOff())


def _open(parts) -> list[str]:
    return parts.store.open_inbox(-1.0)  # everything not done and not leased


def test_a_click_is_recorded_before_it_is_worked_on(inbox, parts, approval, worker, decide, clock):
    entry = inbox.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")

    assert decide.calls == []
    assert [fn for fn, _ in worker.queued] == [inbox._process_received]
    assert _open(parts) == []  # taken by this process as it was recorded: no other starts on it
    clock.advance(31)
    assert _open(parts) == [entry]  # durable: had this process died, the sweep takes it now


def test_a_received_click_is_worked_on_once_with_its_request_read_at_receipt(
    inbox, parts, approval, worker, decide
):
    class Seen(Decider):
        def __call__(self, approval_id, decision, channel, received_at, background, click=None):
            self.click = click
            return super().__call__(approval_id, decision, channel, received_at, background)

    seen = Seen()
    inbox.decide = seen
    entry = inbox.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")
    worker.run_all()

    assert [call[0] for call in seen.calls] == [approval.id]
    assert seen.click.approval.id == approval.id and seen.click.approval.pending
    assert seen.click.entry.attempts == 1  # its first attempt, counted as it was recorded
    inbox.process(entry)  # done: never worked on again
    assert len(seen.calls) == 1


def test_a_received_click_long_in_the_queue_renews_its_lease_before_the_work(
    inbox, parts, approval, worker, decide, clock
):
    entry = inbox.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")
    clock.advance(20)  # a backlog: 10 s of the 30 s lease left when a worker gets to it
    decide.error = RuntimeError("database hiccup")
    worker.run_all()

    assert len(decide.calls) == 1
    clock.advance(15)  # past the first lease, inside the renewed one
    assert _open(parts) == []
    clock.advance(16)
    assert _open(parts) == [entry]


def test_a_received_click_whose_lease_ran_out_in_the_queue_is_left_to_its_new_taker(
    inbox, parts, approval, worker, decide, clock
):
    inbox.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")
    clock.advance(31)
    other = Inbox(parts.store, worker, parts.publisher, decide, lease=30.0)
    [entry] = _open(parts)
    other.process(entry)  # the sweep of another process takes it, and decides it
    assert len(decide.calls) == 1

    worker.run_all()  # this process's queued work finds it taken: nothing more

    assert len(decide.calls) == 1
    assert inbox._leased == {}  # nothing of it left to give back at shutdown


def test_a_click_received_while_shutting_down_is_given_back_at_once(parts, approval, decide):
    class Closed(HeldWorker):
        def submit(self, fn, *args) -> Future:
            skipped: Future = Future()
            skipped.cancel()
            return skipped

    inbox = Inbox(parts.store, Closed(), parts.publisher, decide, lease=30.0)
    entry = inbox.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")

    assert _open(parts) == [entry]  # the next process takes it without waiting out a lease
    assert decide.calls == []


def test_the_click_is_decided_with_its_receipt_and_the_clicker_hears_the_outcome(
    inbox, parts, approval, worker, decide, clock
):
    decide.outcome = outcomes.AlreadyDecided(approval)
    received = clock()
    entry = inbox.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")
    clock.advance(3)

    worker.run_all()

    [(approval_id, decision, channel, received_at, background)] = decide.calls
    assert (approval_id, channel, received_at, background) == (
        approval.id,
        "C0CARDS",
        received,
        False,
    )
    assert (decision.type, decision.by, decision.receipt) == ("approve", "U0ASKER", entry)
    assert parts.publisher.told == [(decide.outcome, "C0CARDS", "U0ASKER")]
    assert _open(parts) == []  # done: never worked on again
    inbox.process(entry)
    assert len(decide.calls) == 1


def test_an_entry_leased_by_one_taker_is_not_taken_by_another_until_the_lease_ends(
    inbox, parts, approval, decide, clock
):
    entry = parts.store.add_inbox(approval.id, Decision("approve", "U0ASKER"), None)
    decide.error = RuntimeError("database hiccup")

    inbox.process(entry)  # fails: the lease stays until it runs out
    assert len(decide.calls) == 1
    inbox.process(entry)
    assert len(decide.calls) == 1, "taken again while its lease held"
    assert _open(parts) == []

    clock.advance(31)
    assert _open(parts) == [entry]  # the recovery sweep sees it again
    decide.error = None
    inbox.process(entry)
    assert len(decide.calls) == 2
    assert _open(parts) == []


def test_a_failed_attempt_is_tried_again_within_seconds_by_its_taker_not_after_its_lease(
    parts, approval, worker, decide, clock
):
    put_off = PutOff()
    inbox = Inbox(parts.store, worker, parts.publisher, decide, lease=30.0, later=put_off)
    entry = inbox.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")
    decide.error = RuntimeError("database hiccup")
    worker.run_all()

    [(wait, _)] = put_off.waiting
    assert 2.5 <= wait <= 5.0  # the first retry: seconds, not the lease's 30
    assert parts.publisher.told == []  # not given up: nothing said yet
    decide.error = None
    clock.advance(wait)
    put_off.run_all()  # the retry goes to the worker pool...
    worker.run_all()  # ... which takes it again under the lease it still holds

    assert len(decide.calls) == 2
    assert [type(o) for o, _, _ in parts.publisher.told] == [outcomes.NotFound]
    assert _open(parts) == [] and inbox._leased == {}
    clock.advance(31)
    assert _open(parts) == []  # done: no sweep comes back to it
    assert entry not in parts.store.earlier_clicks(approval.id, clock.now)


def test_a_retry_whose_lease_another_process_took_meanwhile_is_left_to_that_one(
    parts, approval, worker, decide, clock
):
    put_off = PutOff()
    inbox = Inbox(parts.store, worker, parts.publisher, decide, lease=30.0, later=put_off)
    inbox.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")
    decide.error = RuntimeError("database hiccup")
    worker.run_all()
    decide.error = None
    clock.advance(31)  # this process stalled: its lease ran out, and another's sweep took it
    other = Inbox(parts.store, worker, parts.publisher, decide, lease=30.0, later=put_off)
    [entry] = _open(parts)
    other.process(entry)
    assert len(decide.calls) == 2

    put_off.run_all()  # this process's retry, late
    worker.run_all()

    assert len(decide.calls) == 2  # not decided a third time
    assert inbox._leased == {}


def test_a_click_that_keeps_failing_is_given_up_and_its_sender_told_once(
    inbox, parts, approval, decide, clock
):
    entry = parts.store.add_inbox(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")
    decide.error = RuntimeError("keeps failing")

    for _ in range(MAX_ATTEMPTS):
        inbox.process(entry)
        clock.advance(31)

    assert len(decide.calls) == MAX_ATTEMPTS
    [(outcome, channel, user)] = parts.publisher.told
    assert isinstance(outcome, outcomes.GaveUp)
    assert (channel, user) == ("C0CARDS", "U0ASKER")
    inbox.process(entry)  # finished: no sixth attempt
    assert len(decide.calls) == MAX_ATTEMPTS


def test_release_gives_back_what_this_process_took_so_the_next_takes_it_at_once(
    parts, approval, worker, decide
):
    class Stopped(BaseException):
        """The process stops in the middle of the click."""

    decide.error = Stopped()
    inbox = Inbox(parts.store, worker, parts.publisher, decide, lease=30.0)
    entry = parts.store.add_inbox(approval.id, Decision("approve", "U0ASKER"), None)
    with pytest.raises(Stopped):
        inbox.process(entry)
    assert _open(parts) == []  # leased

    inbox.release()

    assert _open(parts) == [entry]
    decide.error = None
    other = Inbox(parts.store, worker, parts.publisher, decide, lease=30.0)
    other.process(entry)
    assert len(decide.calls) == 2


def test_through_the_engine_a_click_is_applied_and_the_clicker_told(parts, approval):
    entry = parts.engine.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")

    assert entry
    [(outcome, channel, user)] = parts.publisher.told
    assert isinstance(outcome, outcomes.Applied)
    assert (channel, user) == ("C0CARDS", "U0ASKER")
    assert parts.approval(approval.id).status == "approved"
    assert parts.approval(approval.id).decision.receipt == entry


def test_a_click_worked_on_its_last_attempt_is_not_said_to_have_changed_nothing(
    inbox, parts, clock
):
    """A Retry whose first attempts failed (the database away), then retried the run on its
    last one (the click closed with the retry), when Slack fails the answer: the person is
    not told "I couldn't apply your click ... nothing changed", for the run was retried."""

    class Answers:
        def __init__(self) -> None:
            self.told: list[outcomes.Outcome | outcomes.Retry] = []

        def answer(self, outcome, channel, user) -> None:
            if isinstance(outcome, outcomes.Retry):
                raise RuntimeError("Slack is away")
            self.told.append(outcome)

    tries: list[int] = []

    def retried(click) -> outcomes.Retry:
        tries.append(1)
        if click.entry.attempts < MAX_ATTEMPTS:
            raise RuntimeError("database hiccup")
        parts.store.finish_inbox(click.entry.id)  # as RunRows.retry_run closes it
        click.closed = True
        return outcomes.Retry(outcomes.RetryKind.RETRYING, click.entry.thread_id)

    inbox.answers, inbox.retry = Answers(), retried
    entry = parts.store.receive_retry("0" * 32, Decision("retry", "U0ASKER"), "C0", 30.0).entry
    for _ in range(MAX_ATTEMPTS - 1):  # its receiving process died: later takers try it
        clock.advance(31)
        inbox.process(entry.id)

    assert len(tries) == MAX_ATTEMPTS - 1
    assert inbox.answers.told == [], "told that nothing changed, after the run was retried"
