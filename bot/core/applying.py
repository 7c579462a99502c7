"""Carry out a claimed decision, exactly once: under the run's lock (a Postgres advisory lock,
so it holds across processes), the attempt counted with a fencing token, the thread resumed with
the decision only while its checkpoint still waits on the decision's interrupt, the decided card
redrawn beside the resume (the person sees who decided before the effect lands), then the
decision marked applied -- or, when the run ends with it, marked with the run's report in one
statement. What the graph does next is asked (:mod:`bot.core.asking`); a graph that refuses the
answer has its request asked again (:meth:`Applier._refused`).

A crash anywhere leaves a claimed, unapplied decision that the recovery sweep applies again;
the checkpoint and the fence keep that to one resume.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from contextvars import copy_context
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from bot.core.asking import Asker
from bot.core.journal import Journal
from bot.core.leases import Leases
from bot.core.ledger import Ledger, not_due, retried, storable
from bot.core.ports import (
    Agents,
    MayHaveActed,
    Publisher,
    ResumeRefused,
    Runner,
    RunnerBusy,
    RunnerUnavailable,
    RunState,
    same_again,
)
from bot.core.rules import Rules
from bot.core.run_ends import Ending, RunEnds, failure_text
from bot.domain.models import Approval, CardPost, Run
from bot.domain.review import Pending, Stop
from bot.domain.timeline import Policies, plan
from bot.runtime.logs import working_on
from bot.store.attempts import MAX_APPLY_ATTEMPTS, ApplyAttempt, ApplyStart
from bot.store.audit_log import Entry
from bot.store.db.base import Database
from bot.store.db.locks import LockBusy
from bot.store.repository import Store

logger = logging.getLogger(__name__)
# Decided cards redrawn at once, beside the resumes of their decisions.
CARD_THREADS = 8
# Of the graph's error when it refuses an answer, what is kept (its card shows less).
REFUSAL_CHARS = 1000


@dataclass
class Applier:
    store: Store
    db: Database
    runner: Runner
    agents: Agents
    ledger: Ledger
    publisher: Publisher
    journal: Journal
    policies: Policies
    leases: Leases
    ends: RunEnds
    asker: Asker
    rules: Rules | None = None

    def __post_init__(self) -> None:
        # Decided cards are redrawn here, beside their decision's resume (see try_apply).
        self._cards = ThreadPoolExecutor(CARD_THREADS, thread_name_prefix="card-update")

    def apply(self, approval: Approval, started: ApplyStart | None = None) -> Approval | None:
        """Resume the thread with a claimed decision, unless that already happened. When
        another worker holds the run past the lock's wait, the decision stays claimed and
        unapplied (no attempt counted) for the recovery sweep. ``started``: the attempt its
        claim began (:meth:`bot.core.claiming.Claimer.claim`), under the run's lock this thread
        still holds. The request, pending again, when the graph refused the decision
        (:meth:`_refused`); else None."""
        try:
            return self.try_apply(approval, started)
        except LockBusy as exc:
            logger.info("request %s: its run is busy (%s); left for the sweep", approval.id, exc)
            return None

    def try_apply(self, approval: Approval, started: ApplyStart | None = None) -> Approval | None:
        if approval.decision is None:
            return None
        thread = approval.thread_id
        with self.db.key_lock(thread), self.leases.holding(thread), working_on(thread, approval.id):
            # One round trip: the attempt counted (its fencing token), the request and its run
            # as they are now, under the lock, and the run's latest card. (Already done, in the
            # claim's own statement, when the claim took this lock: the lock is re-entrant.)
            # None once it is applied, or pending again (the graph refused it since the caller
            # read it): a decision read before then is not applied, nor one claimed after.
            start = started or self.store.begin_apply(approval.id)
            if start is None:
                return None
            current, run, attempt = start.approval, start.run, start.attempt
            # The decision as it is now, under the lock: the caller's may be one the graph
            # refused, and the request decided again since.
            approval = current if current.decision is not None else approval
            assert approval.decision is not None
            if run.status == "cancelled" or approval.decision.type == "cancel":
                # A cancel is final (a claim cannot land after it, nor a cancel after a claim:
                # bot.store.repository.Store.cancel_run); should one ever slip through, nothing
                # resumes. A decision that is the cancel has nothing to resume either: its card
                # is redrawn and the run's thread told, then it is marked applied, so a crash
                # before that leaves it to the sweep, which does the same.
                self.publisher.refresh(current)
                if approval.decision.type == "cancel":
                    self.ends.cancelled(run, approval.decision.by)
                self.store.mark_applied(approval.id)
                return None
            # Under the lock, so a card still being posted has its ts by now; repeated by the
            # recovery sweep, so a crash before the update still ends with an updated card.
            # The card is redrawn beside the resume, not before it: the person sees who decided
            # before the decision's effect lands (the effect waits for the card), and reading and
            # stepping the graph up to that effect does not wait for Slack.
            shown = self._cards.submit(
                copy_context().run, self._show_decided, run, current, start.posts
            )
            ended = False  # the run ends with this decision: marked applied with its report
            try:
                # The checkpoint guards the resume: a thread no longer waiting on this
                # interrupt is not answered again. Not read on a first attempt in process
                # (_first_attempt says why that is safe).
                now = None if self._first_attempt(attempt) else self._guard(run)
                if not self.runner.effects_here:  # effects elsewhere: nothing can hold them
                    shown.result()
                state: RunState | Stop
                with self.ledger.after(shown.result):
                    if now is None or now.waiting_on(approval.interrupt_id):
                        state = self.agents.answer(run, approval, approval.decision)
                    elif now.stuck:
                        state = self.agents.proceed(run)
                    else:
                        state = now
                shown.result()  # the run's report and next cards come after it, too
                if isinstance(state, Stop):
                    # Kept on the run first: if the report cannot be posted now, the sweep
                    # posts it later (the thread itself stays paused where it stopped).
                    report = storable(state.report)  # a model's text: kept as any text is
                    self.store.set_run_status(run.thread_id, "stopped", report)
                ended = not isinstance(state, Stop) and state.finished
                sent = not isinstance(state, Stop) and state.running
                if not ended and not self._mark_applied(approval, attempt, sent):
                    # Fenced out: this process lost the run's lock mid-resume and a later
                    # attempt took over; that one reports and publishes what came of it.
                    logger.warning("request %s: a later attempt took over", approval.id)
                    return None
            except RunnerUnavailable as exc:
                shown.result()
                self.ends.unavailable(run, exc, current)
                return None
            except RunnerBusy:
                shown.result()
                # Not applied, and no attempt used: the runner watches the thread, and once it
                # settles ``Engine.settled`` applies this decision (the sweep would, too).
                logger.info("request %s waits for the run under way on its thread", approval.id)
                self.store.uncount_apply(approval.id)
                return None
            except ResumeRefused as exc:
                shown.result()
                if approval.interrupt_id in exc.interrupts:
                    return self._refused(run, current, attempt, exc)
                self.ends.failed(run, exc, decided=True, gave_up=_last(attempt))
                return None
            except Exception as exc:
                shown.result()
                self._step_failed(run, approval, attempt, exc)
                return None
            if isinstance(state, Stop):
                self.ends.finish(run, state.report, unposted="stopped")
            elif ended:
                # Marked applied with the report, in one round trip (a crash before that finds
                # the decision unapplied and the graph finished: the sweep only reports it, and
                # the report's key keeps it to one post).
                card = current if start.card_id == current.id else None
                closing = Ending(current, attempt.fence, card)
                self.ends.finish(run, self.agents.report(run.graph, state), ending=closing)
            else:
                self.asker.publish(run, state, known=run)
        return None

    def _step_failed(
        self, run: Run, approval: Approval, attempt: ApplyAttempt, exc: Exception
    ) -> None:
        """The resume with ``approval``'s decision raised ``exc``. One the same answer would
        raise again, or raised after the step may have acted (a tool the per-call gate ran), is
        not tried again by the sweep (each try would act again): given up at once, the people
        told, and a person's Retry sends it again. Not one wrapping an effect the ledger will
        try again (certainly not done): the sweep retries that, as any other, up to the last
        attempt."""
        if not_due(exc):  # an effect waits out its backoff: this was no real attempt
            self.store.uncount_apply(approval.id)
        final = (same_again(exc) or isinstance(exc, MayHaveActed)) and not retried(exc)
        failed = _raised(exc)  # what the step raised, as the people are told it
        error = failure_text(failed)
        # Owed from the give-up on, so a crash right after it still tells the people.
        notice = self.ends.notice(run, True, attempt.number, error) if final else None
        if final and not self.store.give_up_apply(approval.id, attempt.fence, error, notice):
            logger.warning("request %s: a later attempt took over", approval.id)
            return
        self.ends.failed(run, failed, True, final or _last(attempt), attempt.number, notice)

    def refused_there(self, run: Run, applied: Approval, error: str) -> Approval | None:
        """A decision a runner elsewhere took (a LangGraph Server: marked applied, ``sent``),
        whose graph refused it when its run got to it: the run has settled, still waiting on
        the decision's interrupt, with ``error`` (:attr:`RunState.refused`). Asked again as a
        refusal a resume raises is (:meth:`_refused`), under a fence of its own; nothing is
        sent again. Called with the run's lock held. The request, pending again; None when
        it is no longer the decision the graph refused (not applied, or taken over)."""
        if not self.store.reopen_apply(applied.id):
            return None
        start = self.store.begin_apply(applied.id)  # its fence, as an attempt's
        if start is None:
            return None
        refusal = ResumeRefused(error, (applied.interrupt_id,))
        return self._refused(run, start.approval, start.attempt, refusal)

    def _refused(
        self, run: Run, claimed: Approval, attempt: ApplyAttempt, exc: ResumeRefused
    ) -> Approval | None:
        """The graph's own code refused the decision's answer and the thread still waits on its
        interrupt, the answer no longer stored there (the runner checked both with the
        checkpointer): the run did not go past it, and the same answer would be refused again.
        So the request is asked again rather than retried: pending, its card saying why, the
        refusal audited, the decider told in the run's thread. None when a later attempt took
        over meanwhile."""
        error = str(exc)[:REFUSAL_CHARS]
        logger.warning("request %s: the graph refused its answer: %s", claimed.id, error)
        events = (self.journal.refused_entry(claimed, error),)
        jobs = None  # the reminders and expiry its claim closed, as they were
        decision = claimed.decision
        if decision is not None and decision.type == "expire":
            if decision.expire_as == "reject":
                self._refused_rejection(run, claimed, attempt, error, events)
                return None
            # Its deadline is gone: its policy's timeline from now, so it is reminded,
            # escalated and closed again, by a rejection (the graph just refused the approval).
            policy = self.policies.for_request(run.graph, self._governing(claimed))
            jobs = plan(replace(policy, expire_as="reject"), self.store.clock())
        reopened = self.store.reopen_refused(claimed.id, attempt.fence, error, events, jobs)
        if reopened is None:
            logger.warning("request %s: a later attempt took over", claimed.id)
            return None
        self.publisher.refresh(reopened)
        try:
            say = partial(self.publisher.agent_refused, run, reopened, claimed)
            self.ledger.once(f"{claimed.id}:refused:{attempt.fence}", say)
        except Exception:
            logger.exception("could not say that the graph refused request %s", claimed.id)
        return reopened

    def _refused_rejection(
        self,
        run: Run,
        claimed: Approval,
        attempt: ApplyAttempt,
        error: str,
        events: tuple[Entry, ...],
    ) -> None:
        """The graph refused the rejection an expiry handed it: nothing a deadline can send is
        taken (it would be refused at every later deadline), so the run stops here, as an
        expiry a graph is never resumed with stops it, its report saying why."""
        assert claimed.decision is not None
        reason = claimed.decision.reason or "nobody decided in time"
        report = (
            f"Expired: {reason}. The agent refused the rejection the deadline gave it: {error}. "
            "The run did not continue."
        )
        # Stopped first: a crash before the mark leaves the decision to the sweep, which is
        # refused the same way and comes here again (a later attempt would say the same).
        self.store.set_run_status(run.thread_id, "stopped", report)
        if not self.store.mark_applied(claimed.id, attempt.fence, events):
            logger.warning("request %s: a later attempt took over", claimed.id)
            return
        self.ends.finish(run, report, unposted="stopped")

    def _governing(self, approval: Approval) -> Any:
        """What the policy's sections read of the pause ``approval`` asks about."""
        return self.agents.governing(Pending.recorded(approval.interrupt_id, approval.payload))

    def _mark_applied(self, approval: Approval, attempt: ApplyAttempt, sent: bool) -> bool:
        """Mark the decision applied by this attempt, with its "executed" audit event, in one
        transaction (False: fenced out); "sent" instead when a runner elsewhere took it and
        runs the graph with it in its own time (``sent``: its graph may still refuse it, see
        :meth:`refused_there`). A mark whose answer was lost (the connection dropped
        at its COMMIT: a failover, a database restart) is read back: if it committed, the
        decision is applied and no sweep will come back to it, so this attempt goes on to
        publish what the graph asks next; if it did not, the error is the attempt's (the
        decision stays unapplied, for the sweep)."""
        entry = self.journal.sent_entry if sent else self.journal.executed_entry
        try:
            return self.store.mark_applied(approval.id, attempt.fence, (entry(approval),))
        except Exception:
            if not self.store.applied_with(approval.id, attempt.fence):
                raise
            logger.warning("request %s: marked applied, though the answer was lost", approval.id)
            return True

    def _guard(self, run: Run) -> RunState:
        """The thread as its checkpoint has it now, under the run's lock."""
        now = self.runner.state(run.graph, run.thread_id)
        if now.running:  # the decision before this one is still being carried out
            raise RunnerBusy(f"thread {run.thread_id} has a run under way")
        return now

    def _first_attempt(self, attempt: ApplyAttempt) -> bool:
        """Whether this attempt is the decision's first, on a thread only this process steps:
        then the thread waits on the decision's interrupt, and its checkpoint need not be read
        to know it (one read of the checkpoint fewer on every plain decision).

        ``apply_fence`` only ever grows, by one at the start of every attempt (``begin_apply``,
        ``count_apply``), in the same statement that counts it, and before any resume with this
        decision; nothing puts it back (a given-up decision tried again, a lost one reopened,
        an attempt uncounted: only ``apply_attempts`` moves). So a fence of 1 means no earlier
        attempt ever began, whatever crashed and whoever else is running: the thread has not
        been sent this decision. Nor has anything else moved it past the interrupt: a
        request's interrupt is answered only by its own decision, in process only under the
        run's lock, which this attempt holds (another request's answer on the same step, in
        parallel branches, leaves this one's interrupt pending with the same id). A crash after
        this resume leaves the decision unapplied with fence 1; the sweep's attempt is the 2nd
        and reads the checkpoint. (Rows decided before the fence existed were moved to 1 by
        migration 23, so their next attempt reads it too.) A runner on a LangGraph Server is
        always read: a run may be under way there that this process did not start."""
        return attempt.fence == 1 and self.runner.effects_here

    def _show_decided(self, run: Run, approval: Approval, posts: list[CardPost]) -> None:
        """The decided card (and its copies), then (for an edit) its before and after in the
        run's thread; for a request a rule approved, the line that says so."""
        self.publisher.refresh(approval, posts, locked=True)
        self.publisher.note_edit(run, approval)
        self._say_by_rule(run, approval)

    def _say_by_rule(self, run: Run, approval: Approval) -> None:
        """A request a rule approved (no card): one line in the run's thread, once, said where
        its card would be redrawn, so a decision the sweep finishes after a crash says it too."""
        decision = approval.decision
        if self.rules is None or decision is None or decision.via != "rule":
            return
        try:
            rule = self.rules.rows.get(decision.rule) if decision.rule is not None else None
            if rule is not None:
                say = partial(self.publisher.by_rule, run, approval, rule)
                self.ledger.once(f"{approval.id}:by-rule", say)
        except Exception:
            logger.exception("could not say that a rule approved request %s", approval.id)


def _last(attempt: ApplyAttempt) -> bool:
    """Whether a failed ``attempt`` was the decision's last: the people are told then."""
    return attempt.number >= MAX_APPLY_ATTEMPTS


def _raised(exc: Exception) -> Exception:
    """What the step itself raised: the error a :class:`MayHaveActed` stands for."""
    cause = exc.__cause__
    return cause if isinstance(exc, MayHaveActed) and isinstance(cause, Exception) else exc
