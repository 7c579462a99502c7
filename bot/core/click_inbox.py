"""Clicks and modal submissions, recorded before Slack hears they arrived, then worked through.

Slack never resends a request it saw acknowledged, so what changes state is written here first
(one short statement) and applied after the ack, by the worker pool or, after a crash or a
deploy, by the recovery sweep. An entry is taken under a lease, so one process at a time works
on it; a process that dies lets the lease run out and another takes it. A click whose attempt
failed is tried again a few seconds later by the same process, under its lease (so the person
does not wait for the lease and a sweep); one that keeps failing is given up after a few
attempts, and its sender is told. A Retry click on a failed run is one too, on its run rather
than a request (:meth:`bot.core.run_control.RunControl.retried` works it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from bot.core.backoff import backoff
from bot.core.outcomes import GaveUp, Outcome, Retry
from bot.core.ports import Answers
from bot.domain.models import Decision
from bot.runtime.delays import DELAYS
from bot.runtime.worker import Worker
from bot.store.clicks import ReceivedClick, TakenClick
from bot.store.repository import Store

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY = "retry"  # a Retry click's decision type (it names its run: InboxEntry.thread_id)
AGAIN_AFTER = 5.0  # seconds, at most, before a failed attempt's first retry (then doubling)
# Decider.decide (bot.core.deciding): (approval id, decision, channel, received at, background,
# the click taken with its request) -> what came of it
Decide = Callable[[str, Decision, str | None, float | None, bool, TakenClick], Outcome]
# RunControl.retried (bot.core.run_control): a Retry click, taken -> what came of it
RetryRun = Callable[[TakenClick], Retry]
# (seconds, what) -> runs ``what`` that many seconds from now (bot.runtime.delays); a retry
# still waiting when the process exits is dropped, and its lease brings it back to a sweep
Later = Callable[[float, Callable[[], None]], None]


@dataclass
class Inbox:
    store: Store
    worker: Worker
    answers: Answers  # how the person hears what came of their click
    decide: Decide  # Decider.decide
    lease: float = 30.0
    again_after: float = AGAIN_AFTER
    later: Later = DELAYS  # how a retry is put off (the tests run it themselves)
    # How a Retry click is worked (RunControl.retried): wired once the run control is built.
    retry: RetryRun | None = None
    _leased: dict[str, float] = field(default_factory=dict)  # entry -> our lease's end

    def receive(self, approval_id: str, decision: Decision, channel: str | None) -> str:
        """Record a click (before its ack) already taken by this process, and work on it."""
        return self._taken(self.store.receive_click(approval_id, decision, channel, self.lease))

    def receive_retry(self, thread_id: str, by: str, channel: str | None) -> str:
        """Record a Retry click on run ``thread_id`` (before its ack) already taken by this
        process, and work on it, as :meth:`receive` does a decision's."""
        retry = Decision(RETRY, by)
        return self._taken(self.store.receive_retry(thread_id, retry, channel, self.lease))

    def _taken(self, received: ReceivedClick) -> str:
        entry = received.entry
        self._leased[entry.id] = entry.locked_until or 0.0
        if self.worker.submit(self._process_received, received).cancelled():
            # Shutting down: given back now, so the next process need not wait out our lease.
            self.store.release_inbox(entry.id, entry.locked_until or 0.0)
            self._leased.pop(entry.id, None)
        return entry.id

    def process(self, entry_id: str, background: bool = False, ours: float | None = None) -> None:
        """Apply one recorded click; safe to call again, from any process. ``background``:
        the decision it wins is carried out in the worker pool (the caller is the scheduler's
        tick, which waits on no run). ``ours``: the lease this process holds on it already."""
        # One round trip: the entry, under our lease, with its request and expiry.
        click = self.store.take_click(entry_id, self.lease, ours)
        if click is None:
            if ours is not None:  # our lease ran out in the queue and another took it
                self._leased.pop(entry_id, None)
            return  # done already, or another worker holds it
        self._work(click, background)

    def _process_received(self, received: ReceivedClick) -> None:
        entry = received.entry
        if (entry.locked_until or 0.0) - self.store.clock() < self.lease / 2:
            # Long in the queue (a backlog): the lease is renewed before the work, as a take
            # by the recovery sweep would give it, with the request read afresh.
            self.process(entry.id, ours=entry.locked_until)
            return
        self._work(self.store.received_click(received), background=False)

    def _work(self, click: TakenClick, background: bool) -> None:
        entry = click.entry
        entry_id = entry.id
        self._leased[entry_id] = entry.locked_until or 0.0
        try:
            outcome: Outcome | Retry
            if entry.thread_id is not None:  # a Retry click, on its run
                if self.retry is None:
                    raise RuntimeError("no run control to retry a run with")
                outcome = self.retry(click)
            else:
                # Decider.decide knows this click by its receipt: if it already won its claim
                # (a crash came before the entry was closed), it says nothing more and the
                # recovery sweep finishes applying it.
                decision = replace(entry.decision, receipt=entry.id)
                outcome = self.decide(
                    entry.approval_id, decision, entry.channel, entry.received_at, background, click
                )
            self.answers.answer(outcome, entry.channel, entry.decision.by)
        except Exception:
            logger.exception("could not apply click %s (attempt %d)", entry_id, entry.attempts)
            if entry.attempts < MAX_ATTEMPTS:
                self._again(entry_id, entry.attempts, entry.locked_until)
                return
            if not click.closed:  # worked (a claim won, a run retried): something did change
                self._tell_quietly(entry.channel, entry.decision.by)
        if not click.closed:  # a claim it won closed it already, in the claim's own statement
            self.store.finish_inbox(entry_id)
        self._leased.pop(entry_id, None)

    def _again(self, entry_id: str, attempts: int, lease: float | None) -> None:
        """Try a failed click again soon, in this process, while its lease is still ours (a
        wait of at most half of it); should this process die first, the lease runs out and
        the recovery sweep of any process takes it."""
        wait = backoff(attempts, base=self.again_after, cap=self.lease / 2)

        def retry() -> None:  # in the worker pool; at shutdown it is not taken (released)
            self.worker.submit(self.process, entry_id, False, lease)

        self.later(wait, retry)

    def release(self) -> None:
        """Give back the entries this process took but did not finish (shutting down)."""
        for entry_id, lease in list(self._leased.items()):
            self.store.release_inbox(entry_id, lease)

    def _tell_quietly(self, channel: str | None, user: str) -> None:
        try:
            self.answers.answer(GaveUp(), channel, user)
        except Exception:
            logger.exception("could not tell %s", user)
