"""How a run ends, or stops for now: its report posted once and the run marked done, its failure
recorded and told, its agent server away, its cancel said -- each told once in the run's thread
(the effects ledger keeps each to one post, whoever gets there first: a decision, a step, the
recovery sweep)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

from bot.core.journal import Journal
from bot.core.ledger import EffectRetry, Ledger, NotDue, retried, storable
from bot.core.ports import Publisher, RunnerUnavailable, fix_of
from bot.domain.models import Approval, EffectDone, FailureNotice, Run, RunStatus
from bot.store.attempts import MAX_APPLY_ATTEMPTS
from bot.store.repository import Store

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Ending:
    """A decision the run ended with, to be marked applied with the run's report: the request,
    its attempt's fencing token, and the run's latest card (None: the publisher looks it up)."""

    approval: Approval
    fence: int
    card: Approval | None


@dataclass
class RunEnds:
    store: Store
    ledger: Ledger
    publisher: Publisher
    journal: Journal

    def finish(
        self,
        run: Run,
        report: str,
        unposted: RunStatus = "running",
        ending: Ending | None = None,
    ) -> None:
        """Post the outcome once and mark the run done; if Slack refused the post, the run is
        left ``unposted`` ("running", or "stopped" when a decision ended it) for the sweep.
        ``ending``: the decision the run ended with, marked applied (fenced) in the same
        statement that records the report and the run's end."""
        report = storable(report)  # the graph's output (a model's text): kept as any text is
        if ending is None:
            try:
                post = partial(self.publisher.report, run, report)
                self.ledger.once(f"{run.thread_id}:report", post)
            except EffectRetry as exc:
                logger.warning("run %s: report not posted yet: %s", run.thread_id, exc)
                self.store.set_run_status(run.thread_id, unposted, report)
                return
            # The run's end and its "done" row in one round trip: never one without the other.
            self.store.end_run(run.thread_id, "done", report, [self.journal.done_entry(run)])
            return
        posted: list[EffectDone] = []  # the report's "done", written below with the rest
        status: RunStatus = "done"
        try:
            post = partial(self.publisher.report, run, report, ending.card)
            self.ledger.once(f"{run.thread_id}:report", post, done=posted.append)
        except EffectRetry as exc:
            logger.warning("run %s: report not posted yet: %s", run.thread_id, exc)
            status = unposted
        approval = ending.approval
        events = [self.journal.executed_entry(approval)]
        # Not when the run had ended already (``run`` is as read under its lock): the stale-run
        # sweep may have stepped it past a failed step and ended it before this retry.
        if status == "done" and run.status != "done":
            events.append(self.journal.done_entry(run))
        effect = posted[0] if posted else None
        tries = self.ledger.entries(effect) if effect else []  # a post after retries
        closed = self.store.close_apply(
            approval.id, ending.fence, status, report, events, effect, tries
        )
        if effect:
            self.ledger.told(effect)
        if not closed:
            # Fenced out: a later attempt took over (the report, recorded, is posted once).
            logger.warning("request %s: a later attempt took over", approval.id)

    def failed(
        self,
        run: Run,
        exc: Exception,
        decided: bool = False,
        gave_up: bool = False,
        attempts: int = MAX_APPLY_ATTEMPTS,
        notice: FailureNotice | None = None,
    ) -> None:
        """The run hit an error: recorded, and the requester told with Retry (for a decision,
        once it is given up on, after ``attempts``); one certain not to have done anything is
        left to the recovery sweep instead. ``notice``: the one owed already (written when the
        decision was given up on)."""
        if retried(exc):
            # Certainly not done, so safe to run again: the recovery sweep retries the step
            # (a claimed decision stays unapplied; a run stays "running").
            logger.warning("run %s: %s", run.thread_id, exc)
            self.store.set_run_status(run.thread_id, "running", str(exc))
            return
        logger.exception("run %s failed", run.thread_id, exc_info=exc)
        problem = failure_text(exc)
        # The sweep tries a decision again; the people are told if it gives up. The notice
        # is owed from the statement that fails the run until it is said (tell_failure).
        told = not decided or gave_up
        owed = (notice or self.notice(run, decided, attempts, problem)) if told else None
        self.store.end_run(
            run.thread_id, "failed", problem, [self.journal.failed_entry(run, problem)], owed
        )
        if owed is not None:
            self.tell_failure(run, owed, problem)

    def notice(self, run: Run, decided: bool, attempts: int, problem: str) -> FailureNotice:
        """The notice a failure of ``run`` (``problem``) owes its requester, under a key of
        its own."""
        key = f"{run.thread_id}:failed:{self.store.clock()}"
        return FailureNotice(key, decided, attempts, problem[:1000])

    def tell_owed(self, run: Run, notice: FailureNotice) -> None:
        """The recovery sweep's :meth:`tell_failure`, under the run's lock, some time after it
        found ``notice`` owed: said only if it still is (a Retry meanwhile no longer owes it;
        a failure since owes a newer one, said in its place)."""
        if self.store.notice_owed(run.thread_id, notice):
            self.tell_failure(run, notice)

    def tell_failure(self, run: Run, notice: FailureNotice, problem: str | None = None) -> None:
        """Tell the requester of the run's failure (with Retry), once, and no longer owe it;
        left owed, for the recovery sweep, when Slack refused it for now or it could not be
        said. ``problem``: the error (default: the notice's own, else the run's result)."""
        said = problem or notice.problem or run.result or "the run failed"
        try:
            self.ledger.once(
                notice.key,
                lambda: self.publisher.run_failed(run, said, notice.decided, notice.attempts),
            )
            self.store.notice_said(run.thread_id, notice)
        except NotDue:
            return  # its backoff runs: the sweep's next tick finds it owed still, quietly
        except EffectRetry as exc:
            logger.warning("run %s: failure not told yet: %s", run.thread_id, exc)
        except Exception:
            logger.exception("could not report the failure of run %s", run.thread_id)

    def unavailable(
        self, run: Run, exc: RunnerUnavailable, decided: Approval | None = None
    ) -> None:
        """The agent server is away: nothing was done, so everything stays as it is for the
        recovery sweep to try again (without counting against a decision's attempts); the
        people hear of it once."""
        logger.warning("run %s: %s", run.thread_id, exc)
        if decided is None:
            self.store.set_run_status(run.thread_id, "running", str(exc))
        else:
            self.store.uncount_apply(decided.id)
        key = f"{decided.id if decided else run.thread_id}:server-away"
        try:
            self.ledger.once(
                key, lambda: self.publisher.server_away(run, str(exc), decided is not None)
            )
        except Exception:
            logger.exception("could not say that the agent server is away (run %s)", run.thread_id)

    def cancelled(self, run: Run, by: str) -> None:
        """The run's thread is told it was cancelled, once, whichever of its cancelled requests
        (or the sweep finishing one after a crash) gets here first."""
        try:
            self.ledger.once(
                f"{run.thread_id}:cancelled", partial(self.publisher.cancelled, run, by)
            )
        except Exception:
            logger.exception("could not say in its thread that run %s was cancelled", run.thread_id)


def failure_text(exc: BaseException) -> str:
    """What a run's error is recorded and told as: it may quote anything (a model server's
    answer, a tool's output), so it is made :func:`~bot.core.ledger.storable`; with what to fix,
    where the edge recognised the error (:func:`~bot.core.ports.with_fix`)."""
    return storable(f"{type(exc).__name__}: {exc}{fix_of(exc)}")
