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
from tests.support.units import engine_parts


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


@pytest.fixture
def parts(db, clock):
    built = engine_parts(db, clock)
    yield built
    built.close()


@pytest.fixture
def approval(parts):
    [pending] = parts.pending(parts.start(requester="U0ASKER"))
    return pending


@pytest.fixture
def worker():
    return HeldWorker()


@pytest.fixture
def decide():
    return Decider()


@pytest.fixture
def inbox(parts, worker, decide):
    return Inbox(parts.store, worker, parts.publisher, decide, lease=30.0)


def _open(parts) -> list[str]:
    return parts.store.open_inbox(-1.0)  # everything not done and not leased


def test_a_click_is_recorded_before_it_is_worked_on(inbox, parts, approval, worker, decide):
    entry = inbox.receive(approval.id, Decision("approve", "U0ASKER"), "C0CARDS")

    assert _open(parts) == [entry]  # durable: a crash now loses nothing
    assert decide.calls == []
    assert [fn for fn, _ in worker.queued] == [inbox.process]


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
