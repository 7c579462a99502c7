"""Start runs, publish what they wait for, and apply each decision exactly once.

A decision is applied in three steps, each safe to repeat:

1. *claim* (:mod:`bot.core.claiming`) -- one conditional UPDATE moves the request out of
   ``pending``; whoever loses the race is told who won. Only the winner goes on.
2. *resume* (:mod:`bot.core.applying`) -- under a lock on the LangGraph thread (a Postgres
   advisory lock, so it holds across processes), the thread is resumed with
   ``Command(resume={interrupt_id: value})`` only if it is still waiting on that interrupt,
   with ``durability="sync"``.
3. *mark applied* -- so the recovery sweep knows it is done. A crash between 1 and 3 leaves a
   claimed, unapplied row that :meth:`Engine.recover` finishes later.

What a run waits for is asked by :mod:`bot.core.asking`, a request nobody answers is expired by
:mod:`bot.core.expiry`, and a run's end is told by :mod:`bot.core.run_ends`; this module starts
runs, puts those parts together and is the one door the edges call.

The engine knows no Slack and no LangGraph: it asks the ports of :mod:`bot.core.ports` (the
runner and the agents' adapters; the publisher of cards and the answers to clickers), which
:mod:`bot.wiring` passes in, and returns what came of a person's decision, retry or cancel as
typed values (:mod:`bot.core.outcomes`) that each edge says in its own words.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from functools import partial

from bot.core.applying import Applier
from bot.core.asking import Asker
from bot.core.click_inbox import Inbox
from bot.core.deciding import Decider
from bot.core.expiry import Expirer
from bot.core.journal import Journal
from bot.core.leases import Leases
from bot.core.ledger import Ledger
from bot.core.outcomes import Outcome
from bot.core.ports import Agents, Answers, Publisher, RunFailed, Runner, RunnerUnavailable
from bot.core.rules import Rules
from bot.core.run_ends import RunEnds
from bot.core.sweeper import Sweeper
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, Decision, Job, Run, RunRequest
from bot.domain.timeline import Policies
from bot.runtime.logs import working_on
from bot.runtime.worker import Worker
from bot.store.attempts import ApplyStart
from bot.store.clicks import TakenClick
from bot.store.db.base import Database
from bot.store.db.locks import LockBusy
from bot.store.repository import Store

logger = logging.getLogger(__name__)
# Nothing more runs for these: a run stopped by a decision stays paused where it stopped, and
# its last request, though applied, is still what the graph waits on.
FINAL = ("cancelled", "done")


@dataclass
class Engine:
    store: Store
    runner: Runner
    tally: SignOffTally
    db: Database
    ledger: Ledger
    worker: Worker
    policies: Policies
    agents: Agents  # what pauses mean and what decisions send back (bot.agents)
    journal: Journal
    publisher: Publisher  # cards and run threads (bot.slack.publisher)
    answers: Answers  # what a clicker hears of their click (bot.slack.publisher)
    stale_after: float = 60.0
    inbox_lease: float = 30.0
    # Seconds a click's check waits for its run's lock before it goes on without (it comes
    # before a modal opens, and a trigger_id lives 3 s).
    quick_lock: float = 1.0
    # Remembered approvals (bot.core.rules); None when the policy file allows none.
    rules: Rules | None = None

    def __post_init__(self) -> None:
        self.leases = Leases(self.store, min(30.0, max(3.0, self.stale_after)))
        self.sweeper = Sweeper(self.worker, self.db)
        self.ends = RunEnds(self.store, self.ledger, self.publisher, self.journal)
        self.asker = Asker(
            self.store,
            self.agents,
            self.tally,
            self.policies,
            self.publisher,
            self.journal,
            self.worker,
            self.ends,
            self.apply,
            self._refused_there,
            self.rules,
        )
        self.applier = Applier(
            self.store,
            self.db,
            self.runner,
            self.agents,
            self.ledger,
            self.publisher,
            self.journal,
            self.policies,
            self.leases,
            self.ends,
            self.asker,
            self.rules,
        )
        self.decider = Decider(
            self.store,
            self.db,
            self.tally,
            self.agents,
            self.publisher,
            self.journal,
            self.worker,
            self.applier,
            self.expire,
            self.quick_lock,
            self.rules,
        )
        self.inbox = Inbox(
            self.store, self.worker, self.answers, self.decider.decide, self.inbox_lease
        )
        self.expirer = Expirer(
            self.store, self.tally, self.journal, self.worker, self.inbox, self.applier
        )
        self.runner.notify(self.settled)

    # starting ---------------------------------------------------------------
    def start(self, request: RunRequest) -> Run:
        """Record the run (so it is never lost) and work on it in the background. Raises when
        it is not recorded; :class:`~bot.store.db.base.OutcomeUnknown` when that is not known
        (it may start later: the caller must not say it will not)."""
        run = self.store.create_run(uuid.uuid4().hex, request)
        self.worker.submit(self.advance, run.thread_id)
        return run

    def advance(self, thread_id: str) -> None:
        """Run a thread until it waits for a person or ends; safe to call again at any time.
        When another worker holds the run past the lock's wait, nothing is done: the run stays
        where it is and the recovery sweep comes back to it."""
        try:
            self._advance(thread_id)
        except LockBusy as exc:
            logger.info("run %s is busy (%s); left for the recovery sweep", thread_id, exc)

    def _advance(self, thread_id: str) -> None:
        run = self.store.get_run(thread_id)
        if run is None or run.status in FINAL:
            return
        with self.db.key_lock(thread_id), self.leases.holding(thread_id), working_on(thread_id):
            run = self.store.get_run(thread_id) or run
            if run.status in FINAL:  # cancelled (or reported) while we waited for the lock
                return
            if run.status == "stopped":  # a decision ended it; only the report is left
                self.ends.finish(run, run.result or "Stopped.", unposted="stopped")
                return
            try:
                state = self.runner.state(run.graph, thread_id)
                if not state.started:
                    self.journal.started(run)
                    state = self.agents.start(run)
                elif state.stuck or (run.rerun and state.failed):
                    # A Retry set it going (Run.rerun, read under the lock): a run that failed
                    # on a LangGraph Server shows its failure until it is run again. Whichever
                    # move comes first (the Retry's own, a sweep's after a crash, another
                    # process's) runs it again; the others find it done.
                    state = self.agents.proceed(run)
                if run.rerun:
                    self.store.rerun_done(thread_id)
                if state.failed:
                    raise RunFailed(state.failed)
                self.asker.publish(run, state)
            except RunnerUnavailable as exc:
                self.ends.unavailable(run, exc)
            except Exception as exc:
                self.ends.failed(run, exc)

    def settled(self, thread_id: str) -> None:
        """A run elsewhere (on a LangGraph Server) now waits or ended: publish what it did, then
        apply the decisions that came while it was under way."""
        self.worker.submit(self._settled, thread_id)

    def _settled(self, thread_id: str) -> None:
        self.advance(thread_id)
        for approval in self.store.unapplied_of_run(thread_id):
            self.apply(approval)

    # receiving and deciding ------------------------------------------------------
    def receive(self, approval_id: str, decision: Decision, channel: str | None) -> str:
        """Record a click or submission durably (call this *before* the ack), then work on it in
        the background. Raises when the database cannot take it: the caller says so; raises
        :class:`~bot.store.db.base.OutcomeUnknown` when whether it took it is not known (it may
        be carried out later: the caller must not say it will not)."""
        return self.inbox.receive(approval_id, decision, channel)

    def receive_retry(self, thread_id: str, by: str, channel: str | None) -> str:
        """Record a Retry click on a run durably (call this *before* the ack), then work on it
        in the background (:meth:`bot.core.run_control.RunControl.retried`); raises as
        :meth:`receive` does."""
        return self.inbox.receive_retry(thread_id, by, channel)

    def release(self) -> None:
        """Shutting down: start no new side effect, and give back the clicks this process took
        but did not finish, so the next process takes them at once."""
        self.ledger.stop_new()
        self.inbox.release()

    def decide(
        self,
        approval_id: str,
        decision: Decision,
        channel: str | None = None,
        received_at: float | None = None,
        background: bool = False,
        click: TakenClick | None = None,
    ) -> Outcome:
        """Apply a person's click or modal submission; what came of it
        (:meth:`bot.core.deciding.Decider.decide`)."""
        return self.decider.decide(approval_id, decision, channel, received_at, background, click)

    def precheck(
        self,
        approval_id: str,
        user: str,
        origin: str | None = None,
        shows: bool = False,
        version: int = 1,
    ) -> tuple[Approval | None, Outcome | None]:
        """Before opening a modal: the request, and why ``user`` may not decide it
        (:meth:`bot.core.deciding.Decider.precheck`)."""
        return self.decider.precheck(approval_id, user, origin, shows, version)

    def apply(self, approval: Approval, started: ApplyStart | None = None) -> Approval | None:
        """Resume the thread with a claimed decision, unless that already happened
        (:meth:`bot.core.applying.Applier.apply`)."""
        return self.applier.apply(approval, started)

    def _refused_there(self, run: Run, applied: Approval, error: str) -> Approval | None:
        """An applied decision its graph refused once its run got to it, asked again
        (:meth:`bot.core.applying.Applier.refused_there`)."""
        return self.applier.refused_there(run, applied, error)

    def expire(self, approval: Approval, job: Job) -> bool:
        """Decide an unanswered request with its policy's safe default
        (:meth:`bot.core.expiry.Expirer.expire`)."""
        return self.expirer.expire(approval, job)

    # recovering -----------------------------------------------------------------
    def recover(self, older_than: float | None = None) -> None:
        """Finish what a crash or a failed Slack call left half done: each item is handed to
        the worker pool (:mod:`bot.core.sweeper`) and only tried there; one whose run is busy is
        skipped and found again later. This call itself waits on no run and no worker."""
        age = self.stale_after if older_than is None else older_than
        hand = self.sweeper.hand
        for entry in self.store.open_inbox(min(age, self.inbox_lease)):
            hand(f"click:{entry}", None, partial(self.inbox.process, entry))
        # Each card on its own backoff, a few per channel (bot.slack.card_posts).
        limit, per_channel = self.publisher.due_window()
        for approval in self.store.cards_due(age, limit, per_channel):
            ensure = partial(self.publisher.ensure, approval)
            hand(f"card:{approval.id}", approval.thread_id, ensure)
        for approval in self.store.unapplied(age):
            hand(
                f"decision:{approval.id}",
                approval.thread_id,
                partial(self.applier.try_apply, approval),
            )
        for run in self.store.stale_runs(age):
            finish = partial(self._advance, run.thread_id)
            hand(f"run:{run.thread_id}", run.thread_id, finish)
        for run, notice in self.store.owed_notices(age):
            tell = partial(self.ends.tell_owed, run, notice)
            hand(f"notice:{run.thread_id}", run.thread_id, tell)
