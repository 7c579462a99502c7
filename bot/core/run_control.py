"""What a person does to a whole run: cancel it, or retry it after it failed.

Who may cancel is the caller's to check (:mod:`bot.core.access`); a Retry click, worked from the
inbox, is checked here (:meth:`RunControl.retried`). This is what happens then, with the
same locks and claims as a decision (:mod:`bot.core.engine`), so a cancel racing a decision
ends in exactly one of them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from bot.core import outcomes
from bot.core.journal import Journal
from bot.core.ports import Publisher, Runner
from bot.domain.models import Approval, Decision, Run
from bot.runtime.worker import Worker
from bot.store.clicks import TakenClick
from bot.store.db.base import Database
from bot.store.db.locks import LockBusy
from bot.store.decisions import Closing
from bot.store.repository import Store

logger = logging.getLogger(__name__)
# Nothing is left to cancel in these.
FINISHED = ("done", "failed", "cancelled", "stopped")


@dataclass
class RunControl:
    store: Store
    db: Database
    runner: Runner
    journal: Journal
    publisher: Publisher
    worker: Worker
    apply: Callable[[Approval], object]  # carry out a decided request (Engine.apply)
    advance: Callable[[str], None]  # move a run on from its checkpoint (Engine.advance)
    # Who may retry a run (bot.core.access.Access.may_manage); by default nobody.
    may_manage: Callable[[Run, str], bool] = lambda run, user: False

    def cancel(self, run: Run, by: str, via: str = "slack") -> outcomes.Cancel:
        """Cancel a run: its pending requests are closed as cancelled (racing a decision, one
        of them wins) and the graph is never resumed, so nothing after the pause executes.
        Who may cancel is the caller's to check (bot.core.access).

        Under the run's lock (nothing is published or resumed meanwhile), in one transaction
        with the claims (:meth:`bot.store.repository.Store.cancel_run`): either a decision was
        claimed first, and it is carried out and the cancel refused, or the run is cancelled
        first and no decision can be claimed after it. Never both."""
        thread_id = run.thread_id
        try:
            with self.db.key_lock(thread_id):
                latest = self.store.get_run(thread_id) or run
                if latest.status in FINISHED:
                    return outcomes.Cancel(outcomes.CancelKind.FINISHED, thread_id, latest.status)
                # The run's result (``GET /api/runs/{id}``): plain words, no Slack markup.
                note = f"Cancelled by {by}."
                # Each request's cancel is audited as its decision, in the cancel's transaction.
                alone = (self.journal.cancelled_entry(latest, by, via),)
                cancel = Decision("cancel", by)
                try:
                    claimed = self.store.cancel_run(thread_id, cancel, note, self._closing, alone)
                except Exception:
                    # Its answer lost (the connection dropped at its commit): read back.
                    if (claimed := self._cancelled_by(thread_id, note)) is None:
                        raise
                if claimed is None:  # a decision was claimed first: carried out, not undone
                    return outcomes.Cancel(outcomes.CancelKind.TOO_LATE, thread_id)
                for approval in claimed:
                    self.journal.counted(approval)
                    # Finished as any decision is, under the lock still held (so nothing
                    # comes between): nothing is resumed, its card is redrawn and the run's
                    # thread told (once); a crash or a failure there leaves it to the sweep.
                    try:
                        self.apply(approval)
                    except Exception:
                        logger.exception("request %s: cancelled, left for the sweep", approval.id)
        except LockBusy:  # a step holds the run past the lock's wait: nothing changed
            return outcomes.Cancel(outcomes.CancelKind.BUSY, thread_id)
        try:  # a run under way elsewhere (a LangGraph Server) is stopped there too
            self.runner.stop(run.graph, thread_id)
        except Exception:
            logger.warning("run %s: could not stop its work on the server", thread_id)
        if not claimed:  # nobody was asked anything: there is no request to finish
            self.publisher.cancelled(run, by)
        return outcomes.Cancel(outcomes.CancelKind.CANCELLED, thread_id)

    def _cancelled_by(self, thread_id: str, note: str) -> list[Approval] | None:
        """The requests this cancel closed (to be finished as usual) if it committed, though
        its answer was lost; None if it did not."""
        run = self.store.get_run(thread_id)
        if run is None or run.status != "cancelled" or run.result != note:
            return None
        logger.warning("run %s: cancelled, though the answer was lost", thread_id)
        approvals = self.store.run_approvals(thread_id)
        return [a for a in approvals if a.status == "cancelled" and a.applied_at is None]

    def _closing(self, claimed: Approval) -> Closing:
        """What a request's cancel closes with its claim: its audit event and its jobs."""
        return Closing((self.journal.decided_entry(claimed),))

    def retried(self, click: TakenClick) -> outcomes.Retry:
        """A Retry click, recorded before its ack and taken from the inbox
        (:mod:`bot.core.click_inbox`): what came of it. Only the people who may look after the
        run retry it (:meth:`bot.core.access.Access.may_manage`); anyone else hears what a run
        that does not exist gets. The retry closes the click in its own transaction, so a
        crash after it leaves nothing to do twice (the recovery sweep moves the run on); a
        click another taker already worked (its lease ran out under a stalled one) is
        REPLAYED, and says nothing more."""
        entry = click.entry
        thread_id, by = entry.thread_id or "", entry.decision.by
        run = self.store.get_run(thread_id)
        if run is None or not self.may_manage(run, by):
            outcome = outcomes.Retry(outcomes.RetryKind.NOT_FOUND, thread_id)
        else:
            outcome = self._retry(run, entry.decision, entry.id)
        if outcome.kind == outcomes.RetryKind.RETRYING:
            click.closed = True
        elif self.store.click_closed(entry.id):  # whatever came of it was said by its taker
            return outcomes.Retry(outcomes.RetryKind.REPLAYED, thread_id, outcome.status)
        return outcome

    def retry(self, thread_id: str, by: str, via: str | None = None) -> outcomes.Retry:
        """Start a failed run again from its last checkpoint; what came of it. Who may retry
        is the caller's to check (:meth:`retried` does, for a Retry click); ``by`` is who
        retried it (and ``via`` the door, None: Slack), as its ``retried`` row says."""
        run = self.store.get_run(thread_id)
        if run is None:
            return outcomes.Retry(outcomes.RetryKind.NOT_FOUND, thread_id)
        return self._retry(run, Decision("retry", by, via=via))

    def _retry(self, run: Run, retry: Decision, click: str | None = None) -> outcomes.Retry:
        """``retry``: who retried the run, audited (``retried``) in the retry's transaction,
        only if it retried it; ``click``: the Retry's inbox entry, closed with it
        (RunRows.retry_run)."""
        thread_id = run.thread_id
        if run.status != "failed":
            return outcomes.Retry(outcomes.RetryKind.NOT_FAILED, thread_id, run.status)
        if any(a.status == "failed" for a in self.store.run_approvals(thread_id)):
            # Slack refused its card for good (bot.slack.card_posts): nothing here can post it
            # again; the requester was told how to fix it and ask again.
            return outcomes.Retry(outcomes.RetryKind.CARD_REFUSED, thread_id)
        # With its given-up decisions reset, and its audit row.
        decided = self.store.retry_run(thread_id, [self.journal.retried_entry(run, retry)], click)
        if decided is None:  # another Retry, or a prune, came first
            now = self.store.get_run(thread_id)
            if now is None:
                return outcomes.Retry(outcomes.RetryKind.NOT_FOUND, thread_id)
            return outcomes.Retry(outcomes.RetryKind.NOT_FAILED, thread_id, now.status)
        for approval in decided:
            self.worker.submit(self.apply, approval)
        if not decided:
            self.worker.submit(self.advance, thread_id)  # runs it again (Run.rerun)
        return outcomes.Retry(outcomes.RetryKind.RETRYING, thread_id)
