"""A person's decision, checked and claimed: from the request's card (or one of its copies), by
someone who may decide it, on the version they were shown, in time; then claimed in one
conditional statement (whoever loses the race is told who won: :mod:`bot.core.claiming`), or
counted as a vote when the request needs more than one. Where a click came from is checked by
:mod:`bot.core.origins`. What came of it is a typed outcome (:mod:`bot.core.outcomes`) each edge
says in its own words; a claim that wins is carried out by :mod:`bot.core.applying`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial

from bot.core import outcomes
from bot.core.applying import Applier
from bot.core.claiming import Claimer, replayed
from bot.core.journal import Journal
from bot.core.origins import Origins
from bot.core.outcomes import Outcome
from bot.core.ports import Agents, Publisher, StageCall
from bot.core.rules import Rules
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, Decision, Job
from bot.domain.timeline import PlannedJob
from bot.runtime.worker import Worker
from bot.store.attempts import ApplyStart
from bot.store.clicks import TakenClick
from bot.store.db.base import ACK_WINDOW, Database
from bot.store.db.locks import LockBusy
from bot.store.decisions import Ballot
from bot.store.repository import Store

logger = logging.getLogger(__name__)


@dataclass
class Decider:
    store: Store
    db: Database
    tally: SignOffTally
    agents: Agents
    publisher: Publisher
    journal: Journal
    worker: Worker
    applier: Applier  # carries out a claimed decision
    expire: Callable[[Approval, Job], bool]  # a due expiry run first (bot.core.expiry)
    quick_lock: float = 1.0  # bot.core.origins.Origins.quick_lock
    # Remembered approvals (bot.core.rules); None when the policy file allows none.
    rules: Rules | None = None
    origins: Origins = field(init=False, repr=False)
    claimer: Claimer = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.origins = Origins(self.store, self.db, self.publisher, self.quick_lock)
        self.claimer = Claimer(self.store, self.db, self.journal, self.rules)

    def decide(
        self,
        approval_id: str,
        decision: Decision,
        channel: str | None = None,
        received_at: float | None = None,
        background: bool = False,
        click: TakenClick | None = None,
    ) -> Outcome:
        """Apply a person's click or modal submission; what came of it (:mod:`bot.core.
        outcomes`: :class:`~bot.core.outcomes.Applied` when this decision won), for the caller
        to tell the person in its own words. ``received_at``: when Slack delivered it (a click
        acknowledged before the deadline beats the expiry, even if the bot only gets to it
        after; one received at the deadline or after it is late, and is not counted: it hears
        :class:`~bot.core.outcomes.Expiring` until the expiry has run); ``background``: resume
        the graph in the worker pool rather than before returning; ``click``: the inbox entry
        it came from, taken with its request and expiry (read once, with the take), which a
        claim that wins closes."""
        approval = click.approval if click is not None else self.store.get_approval(approval_id)
        if approval is None:
            return outcomes.NotFound()
        if replayed(approval, decision):
            return outcomes.Replayed(approval)
        approval = self.origins.with_card(approval, decision.origin, decision.shows_request)
        if not self.origins.from_a_card(approval, decision.origin):
            return self.origins.not_from_card(approval, decision)
        if not approval.pending:
            overdue = None
        elif click is not None and click.approval is approval:
            overdue = click.overdue
        else:
            overdue = self.store.overdue_expiry(approval.id, received_at)
        if overdue is not None and self.store.clock() < overdue.due_at + ACK_WINDOW:
            # Sent at or after the deadline, it is late; but the expiry waits while a click
            # sent before it may still be being recorded, and that click, not this one, may win.
            return outcomes.Expiring(approval, overdue.due_at)
        if overdue is not None:
            # The expiry is due and has not run (the bot was down, the scheduler is behind):
            # it runs now, and a late click cannot win it.
            self.expire(approval, overdue)
            approval = self.store.get_approval(approval_id) or approval
        if not approval.pending:
            return outcomes.AlreadyDecided(approval)
        ballot = Ballot("moved", approval)
        started: ApplyStart | None = None  # the claim began applying it, under the run's lock
        with ExitStack() as held:  # that lock, when the claim took it: given back at the end
            # A vote that finds its request gone on to the next stage looks again.
            for _ in range(3):
                approval = ballot.approval or approval
                with self.tally.guard(approval):
                    if self.tally.settles_counted(approval, decision):
                        # Votes and edits move a counted request (its stage, its version)
                        # under this guard: one click that settles it is checked against the
                        # request as it is now, not as it was before the guard was taken.
                        approval = self.store.get_approval(approval.id) or approval
                        if not approval.pending:
                            return outcomes.AlreadyDecided(approval)
                    why = self.tally.refusal(approval, decision.by, decision.on_behalf_of)
                    if why is not None:
                        return outcomes.Refused(approval, why)
                    if not self._offered(approval, decision):
                        return outcomes.NotOffered(approval)
                    kind = self.tally.vote_kind(approval, decision)
                    if decision.remember is not None:
                        refused = self._unremembered(approval, decision, kind)
                        if refused is not None:
                            return refused
                    if kind is None and (decision.version or 1) != approval.version:
                        # Settling it at once needs the version it was shown as, as a vote does.
                        self.publisher.refresh(approval)
                        return outcomes.Changed(approval)
                    entry = click.entry.id if click is not None else None
                    if kind is None:  # one click settles it
                        lock = None if background else held
                        alone = not self.tally.guarded(approval)
                        claimed, started = self.claimer.claim(
                            approval, decision, entry, lock, alone
                        )
                        ballot = Ballot("decided", claimed) if claimed else Ballot("closed")
                        if claimed is None and alone:
                            # Lost, or a request its run now has, signed by distinct people,
                            # marked it: then it is checked again, under the sign-off's lock.
                            ballot = self._recheck(approval)
                    else:
                        closing = partial(self.journal.closed, entry=entry)
                        voted = [self.journal.voted_entry(approval, decision, kind)]
                        ballot = self.store.vote(
                            approval.id, approval.stage, decision, kind, closing, voted
                        )
                if ballot.outcome != "moved":
                    break
            if click is not None:
                # A claim that won closed it, in the claim's own transaction.
                click.closed = ballot.outcome == "decided" and ballot.approval is not None
            return self._counted(approval, decision, ballot, background, started)

    def _unremembered(
        self, approval: Approval, decision: Decision, kind: str | None
    ) -> Outcome | None:
        """Why an "Approve, and don't ask again" cannot be taken as it came, if it cannot: the
        request (as the card showed it, in today's policy) must offer that duration, and be
        settled by this one click."""
        if (decision.version or 1) != approval.version:
            self.publisher.refresh(approval)
            return outcomes.Changed(approval)
        rules = self.rules
        seconds = decision.remember or 0
        if rules is None or kind is not None or decision.type != "approve":
            return outcomes.NotOffered(approval)
        if not rules.permits(approval, seconds):
            return outcomes.NotOffered(approval)
        return None

    def _recheck(self, approval: Approval) -> Ballot:
        """After a claim made ``alone`` came to nothing: the request to check again, if it is
        still pending and now has to be checked under the run's sign-off lock."""
        latest = self.store.get_approval(approval.id)
        if latest is not None and latest.pending and self.tally.guarded(latest):
            return Ballot("moved", latest)
        return Ballot("closed")

    def _offered(self, approval: Approval, decision: Decision) -> bool:
        """Whether the request offers this decision; Approve is always how the others sign an
        edit that stands (even on a request whose own choices have no Approve, an answer) --
        but one Approve answers a whole batch only if the version it signs, the one that
        stands, can be read in full, as its card says (a batch too long is signed call by
        call)."""
        if decision.type != "approve" or decision.items is not None:
            return self.agents.permits(approval.review, decision)
        standing = self.tally.standing_edit(approval)
        review = approval.review
        edits = approval.edited_values(standing) if standing is not None else None
        if review is not None and not review.approvable_at_once(edits):
            return False
        return standing is not None or self.agents.permits(review, decision)

    def _counted(
        self,
        approval: Approval,
        decision: Decision,
        ballot: Ballot,
        background: bool,
        started: ApplyStart | None = None,
    ) -> Outcome:
        """Act on what a click did: apply a settled request (its claim closed its jobs, audit
        event and click), or show the votes so far. ``started``: the claim began applying it
        (under the run's lock, which this thread holds)."""
        if ballot.outcome == "decided" and ballot.approval is not None:
            self.journal.counted(ballot.approval)
            if background:
                applying = self.worker.submit(self.applier.apply, ballot.approval)
                return outcomes.Applied(ballot.approval, applying)
            if (reopened := self.applier.apply(ballot.approval, started)) is not None:
                return outcomes.AgentRefused(reopened)
            return outcomes.Applied(ballot.approval)
        latest = self.store.get_approval(approval.id) or approval
        if replayed(latest, decision) or recounted(ballot, decision):
            # This very click won (or was counted), taken over by another process while this
            # one stalled past its lease: the person is not told their own click found it
            # decided (or that they had voted already).
            return outcomes.Replayed(latest)
        if ballot.outcome == "stale" and latest.pending:
            self.publisher.refresh(latest)  # the clicked card may still show the old version
            return outcomes.Changed(latest)
        if ballot.outcome in ("closed", "moved", "stale", "decided"):
            return outcomes.AlreadyDecided(latest)
        if not latest.pending:  # counted, and another vote settled it just after
            return outcomes.DecidedMeanwhile(latest)
        if ballot.outcome != "duplicate":  # counted: its "voted" row written with it
            self._redraw(latest)
        receipt = self.tally.receipt(latest, ballot)
        if ballot.outcome in ("advanced", "returned") and latest.ts is not None:
            # The next stage's people hear of it in the card's thread (mentioned, so notified).
            call = StageCall(receipt.label, receipt.stage, latest.requester)
            edited_by = decision.by if ballot.outcome == "returned" else None
            self.publisher.next_stage(latest, call, edited_by)
        return receipt

    def _redraw(self, approval: Approval) -> None:
        """Show the votes so far on the card. One still being posted (a vote through the API
        can come that early: it names no card) has no ts yet; it is posted under the run's
        lock, so it is redrawn in the background once that lock is free."""
        if approval.ts is None:
            self.worker.submit(self._redraw_posted, approval.id)
        else:
            self.publisher.refresh(approval)

    def _redraw_posted(self, approval_id: str) -> None:
        approval = self.store.get_approval(approval_id)
        if approval is None:
            return
        try:
            with self.db.key_lock(approval.thread_id):
                latest = self.store.get_approval(approval_id) or approval
        except LockBusy:  # a long step holds the run: the scheduler redraws it later
            self.store.add_job(approval_id, PlannedJob("refresh", self.store.clock()))
            return
        self.publisher.refresh(latest)

    def precheck(
        self,
        approval_id: str,
        user: str,
        origin: str | None = None,
        shows: bool = False,
        version: int = 1,
    ) -> tuple[Approval | None, Outcome | None]:
        """Before opening a modal: the request, and why ``user`` may not decide it (if so, an
        outcome to tell them); ``version``: of the request, as the clicked card showed it. A
        form is not opened once the deadline has passed: what it sent would be late."""
        approval, overdue_at = self.store.approval_for_form(approval_id)
        if approval is None:
            return None, outcomes.NotFound()
        approval = self.origins.with_card(approval, origin, shows, quick=True)
        if not self.origins.from_a_card(approval, origin):
            return approval, outcomes.NotFromCard(approval)
        if not approval.pending:
            return approval, outcomes.AlreadyDecided(approval)
        if overdue_at is not None:
            return approval, outcomes.Expiring(approval, overdue_at)
        if version != approval.version:
            self.worker.submit(self.publisher.refresh, approval)
            return approval, outcomes.Changed(approval)
        why = self.tally.refusal(approval, user)
        return approval, outcomes.Refused(approval, why) if why is not None else None


def recounted(ballot: Ballot, decision: Decision) -> bool:
    """This very click's vote was counted already (by another process that took it over)."""
    receipt = decision.receipt
    if ballot.outcome != "duplicate" or receipt is None:
        return False
    return any(vote.decision.receipt == receipt for vote in ballot.votes)
