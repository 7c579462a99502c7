"""Requests nobody answered in time, decided by the clock: with their policy's safe default,
unless someone did answer in time and the bot has not got to it yet (that goes first), and never
as an approval of what an approver rejected, edited or the agent refused."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.config.durations import expiry_reason
from bot.core.applying import Applier
from bot.core.click_inbox import Inbox
from bot.core.journal import Journal
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, Decision, Job
from bot.runtime.worker import Worker
from bot.store.repository import Store

logger = logging.getLogger(__name__)


class ClickInFlight(RuntimeError):
    """An expiry waits: a click that arrived before the deadline is still being worked on."""


@dataclass
class Expirer:
    store: Store
    tally: SignOffTally
    journal: Journal
    worker: Worker
    inbox: Inbox
    applier: Applier

    def expire(self, approval: Approval, job: Job) -> bool:
        """Decide an unanswered request with its policy's safe default -- unless someone did
        answer in time and the bot has not got to it yet (a crash, a backlog): that goes first.
        Called once ``ACK_WINDOW`` has passed since the deadline, so every click received
        before it is written by now, or was never acknowledged. Raises :class:`ClickInFlight`
        while such a click is held by another worker or process (the scheduler tries the expiry
        again later); False when the request is decided."""
        for entry_id in self.store.earlier_clicks(approval.id, job.due_at):
            self.inbox.process(entry_id, background=True)
        current = self.store.get_approval(approval.id)
        if current is None or not current.pending:
            return False
        if self.store.earlier_clicks(approval.id, job.due_at):
            # One arrived in time but another worker (or process) holds it still: acknowledged
            # before the deadline, it goes first, and the expiry is tried again after it.
            raise ClickInFlight(f"request {approval.id}: a click from before its deadline")
        expire_as = job.detail.get("as", "reject")
        # Under the sign-off's lock, so no edit is counted between the look and the claim.
        with self.tally.guard(current):
            edited = expire_as == "approve" and self.tally.standing_edit(current) is not None
            refused = expire_as == "approve" and self.tally.rejected_by_someone(current)
            # Someone answered it and the graph refused that answer (``Applier._refused``), which
            # voided their votes: whatever they said (a no, an edit), time running out is no yes.
            answered = expire_as == "approve" and current.refused is not None
            held = edited or refused or answered
            reason = expiry_reason(job.detail.get("after"), "reject" if held else expire_as)
            if edited:
                # An approver replaced what would run, and nobody signed the replacement in
                # time: neither the original (set aside) nor the unsigned edit goes ahead.
                expire_as, reason = "reject", f"{reason}: an edit was waiting for signatures"
            elif refused:
                # An approver said no to the version on the card (fewer than ``rejections``
                # did): what someone refused never goes ahead only because time ran out.
                expire_as, reason = "reject", f"{reason}: an approver rejected it"
            elif answered:
                expire_as, reason = "reject", f"{reason}: the agent refused the answer given"
            decision = Decision(
                "expire", "scheduler", reason=reason, expire_as=expire_as, via="scheduler"
            )
            return self._settle(approval, decision, job.id)

    def _settle(self, approval: Approval, decision: Decision, job_id: str = "") -> bool:
        """Claim and apply a decision that needs no votes (an expiry)."""
        closing = self.journal.closing(approval, decision, job_id)
        try:
            claimed = self.store.claim(approval.id, decision, closing)
        except Exception:
            # Its answer lost (the connection dropped at its commit): read back. Committed, it
            # is carried out now, not by the recovery sweep a minute later.
            claimed = self.store.get_approval(approval.id)
            won = claimed.decision if claimed is not None else None
            if claimed is None or won is None or won.type != decision.type:
                raise
            logger.warning("request %s: claimed, though the answer was lost", approval.id)
        if claimed is None:
            return False
        self.journal.counted(claimed)
        # In the pool: the scheduler's tick never waits on a run's lock or its step.
        self.worker.submit(self.applier.apply, claimed)
        return True
