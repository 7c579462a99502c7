"""Start runs, publish what they wait for, and apply each decision exactly once.

A decision is applied in three steps, each safe to repeat:

1. *claim* -- one conditional UPDATE moves the request out of ``pending``; whoever loses the race
   is told who won. Only the winner goes on.
2. *resume* -- under a lock on the LangGraph thread (a Postgres advisory lock, so it holds across
   processes), the thread is resumed with ``Command(resume={interrupt_id: value})`` only if it is
   still waiting on that interrupt, with ``durability="sync"``.
3. *mark applied* -- so the recovery sweep knows it is done. A crash between 1 and 3 leaves a
   claimed, unapplied row that :meth:`Engine.recover` finishes later.

The engine knows no Slack and no LangGraph: it asks the ports of :mod:`bot.core.ports` (the
runner and the agents' adapters; the publisher of cards and the answers to clickers), which
:mod:`bot.wiring` passes in, and returns what came of a person's decision, retry or cancel as
typed values (:mod:`bot.core.outcomes`) that each edge says in its own words.
"""

from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from contextvars import copy_context
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

from bot.config.durations import expiry_reason
from bot.core import outcomes
from bot.core.click_inbox import Inbox
from bot.core.journal import Journal
from bot.core.leases import Leases
from bot.core.ledger import EffectRetry, Ledger, not_due
from bot.core.outcomes import Outcome
from bot.core.ports import (
    Agents,
    Answers,
    Publisher,
    ResumeRefused,
    RunFailed,
    Runner,
    RunnerBusy,
    RunnerUnavailable,
    RunState,
    StageCall,
)
from bot.core.routing import destination
from bot.core.rules import Rules
from bot.core.sweeper import Sweeper
from bot.core.tally import Signing
from bot.domain.models import (
    Approval,
    CardPost,
    Decision,
    EffectDone,
    Job,
    Run,
    RunRequest,
    RunStatus,
    status_for,
)
from bot.domain.review import Pending, Stop
from bot.domain.timeline import PlannedJob, Policies, plan
from bot.runtime.logs import working_on
from bot.runtime.worker import Worker
from bot.store.audit_log import Entry
from bot.store.clicks import TakenClick
from bot.store.db.base import ACK_WINDOW, Database
from bot.store.db.locks import LockBusy
from bot.store.decisions import MAX_APPLY_ATTEMPTS, ApplyAttempt, ApplyStart, Ballot, Closing
from bot.store.repository import Store
from bot.store.rules import Rule

logger = logging.getLogger(__name__)
# Nothing more runs for these: a run stopped by a decision stays paused where it stopped, and
# its last request, though applied, is still what the graph waits on.
FINAL = ("cancelled", "done")
# Decided cards redrawn at once, beside the resumes of their decisions.
CARD_THREADS = 8
# Of the graph's error when it refuses an answer, what is kept (its card shows less).
REFUSAL_CHARS = 1000


class ClickInFlight(RuntimeError):
    """An expiry waits: a click that arrived before the deadline is still being worked on."""


@dataclass
class Engine:
    store: Store
    runner: Runner
    signing: Signing
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

    # starting ---------------------------------------------------------------
    def start(self, request: RunRequest) -> Run:
        """Record the run (so it is never lost) and work on it in the background. Raises when
        it is not recorded; :class:`~bot.store.db.base.OutcomeUnknown` when that is not known
        (it may start later: the caller must not say it will not)."""
        run = self.store.create_run(uuid.uuid4().hex, request)
        self.worker.submit(self.advance, run.thread_id)
        return run

    def advance(self, thread_id: str, again: bool = False) -> None:
        """Run a thread until it waits for a person or ends; safe to call again at any time.
        ``again``: a person pressed Retry, so a run that failed on the server is continued.
        When another worker holds the run past the lock's wait, nothing is done: the run stays
        where it is and the recovery sweep comes back to it."""
        try:
            self._advance(thread_id, again)
        except LockBusy as exc:
            logger.info("run %s is busy (%s); left for the recovery sweep", thread_id, exc)

    def _advance(self, thread_id: str, again: bool) -> None:
        run = self.store.get_run(thread_id)
        if run is None or run.status in FINAL:
            return
        with self.db.key_lock(thread_id), self.leases.holding(thread_id), working_on(thread_id):
            run = self.store.get_run(thread_id) or run
            if run.status in FINAL:  # cancelled (or reported) while we waited for the lock
                return
            if run.status == "stopped":  # a decision ended it; only the report is left
                self._finish(run, run.result or "Stopped.", unposted="stopped")
                return
            try:
                state = self.runner.state(run.graph, thread_id)
                if not state.started:
                    self.journal.started(run)
                    state = self.agents.start(run)
                elif state.stuck or (again and state.failed):
                    state = self.agents.proceed(run)
                if state.failed:
                    raise RunFailed(state.failed)
                self._publish(run, state)
            except RunnerUnavailable as exc:
                self._unavailable(run, exc)
            except Exception as exc:
                self._failed(run, exc)

    def settled(self, thread_id: str) -> None:
        """A run elsewhere (on a LangGraph Server) now waits or ended: publish what it did, then
        apply the decisions that came while it was under way."""
        self.worker.submit(self._settled, thread_id)

    def _settled(self, thread_id: str) -> None:
        self.advance(thread_id)
        for approval in self.store.unapplied_of_run(thread_id):
            self.apply(approval)

    # receiving ----------------------------------------------------------------
    def __post_init__(self) -> None:
        self.inbox = Inbox(self.store, self.worker, self.answers, self._decide, self.inbox_lease)
        self.runner.notify(self.settled)
        self.leases = Leases(self.store, min(30.0, max(3.0, self.stale_after)))
        self.sweeper = Sweeper(self.worker, self.db)
        # Decided cards are redrawn here, beside their decision's resume (see _apply).
        self._cards = ThreadPoolExecutor(CARD_THREADS, thread_name_prefix="card-update")

    def receive(self, approval_id: str, decision: Decision, channel: str | None) -> str:
        """Record a click or submission durably (call this *before* the ack), then work on it in
        the background. Raises when the database cannot take it: the caller says so; raises
        :class:`~bot.store.db.base.OutcomeUnknown` when whether it took it is not known (it may
        be carried out later: the caller must not say it will not)."""
        return self.inbox.receive(approval_id, decision, channel)

    def release(self) -> None:
        """Shutting down: start no new side effect, and give back the clicks this process took
        but did not finish, so the next process takes them at once."""
        self.ledger.stop_new()
        self.inbox.release()

    # deciding -----------------------------------------------------------------
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
        approval = self._with_card(approval, decision.origin, decision.shows_request)
        if not self._from_a_card(approval, decision.origin):
            return self._not_from_card(approval, decision)
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
                with self.signing.guard(approval):
                    if self.signing.settles_counted(approval, decision):
                        # Votes and edits move a counted request (its stage, its version)
                        # under this guard: one click that settles it is checked against the
                        # request as it is now, not as it was before the guard was taken.
                        approval = self.store.get_approval(approval.id) or approval
                        if not approval.pending:
                            return outcomes.AlreadyDecided(approval)
                    why = self.signing.refusal(approval, decision.by, decision.on_behalf_of)
                    if why is not None:
                        return outcomes.Refused(approval, why)
                    if not self._offered(approval, decision):
                        return outcomes.NotOffered(approval)
                    kind = self.signing.vote_kind(approval, decision)
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
                        alone = not self.signing.guarded(approval)
                        claimed, started = self._claim(approval, decision, entry, lock, alone)
                        ballot = Ballot("decided", claimed) if claimed else Ballot("closed")
                        if claimed is None and alone:
                            # Lost, or a request its run now has, signed by distinct people,
                            # marked it: then it is checked again, under the sign-off's lock.
                            ballot = self._recheck(approval)
                    else:
                        closing = partial(self._closed, entry=entry)
                        ballot = self.store.vote(
                            approval.id, approval.stage, decision, kind, closing
                        )
                if ballot.outcome != "moved":
                    break
            if click is not None:
                # A claim that won closed it, in the claim's own transaction.
                click.closed = ballot.outcome == "decided" and ballot.approval is not None
            return self._counted(approval, decision, ballot, background, started)

    def _closing(
        self, approval: Approval, decision: Decision, keep: str = "", entry: str | None = None
    ) -> Closing:
        """What a claim of ``approval`` by ``decision`` closes if it wins: its audit event
        (written from the request as the claim leaves it), its jobs but ``keep``, its click."""
        claimed = replace(
            approval, status=status_for(decision), decided_by=decision.by, decision=decision
        )
        return self._closed(claimed, keep=keep, entry=entry)

    def _closed(
        self,
        claimed: Approval,
        rule: Rule | None = None,
        keep: str = "",
        entry: str | None = None,
        made: Rule | None = None,
    ) -> Closing:
        """What the claim that left the request ``claimed`` closes, in its own transaction:
        its audit event (``rule``: the remembered approval that answered it; ``made``: the one
        it made, audited first), its jobs but ``keep``, its click ``entry``."""
        events = [self.journal.remembered_entry(claimed, made)] if made is not None else []
        events.append(self.journal.decided_entry(claimed, rule))
        return Closing(events, keep, entry)

    def _decide(
        self,
        approval_id: str,
        decision: Decision,
        channel: str | None,
        received_at: float | None,
        background: bool,
        click: TakenClick | None = None,
    ) -> Outcome:
        return self.decide(
            approval_id, decision, channel, received_at, background=background, click=click
        )

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
        if latest is not None and latest.pending and self.signing.guarded(latest):
            return Ballot("moved", latest)
        return Ballot("closed")

    def _claim(
        self,
        approval: Approval,
        decision: Decision,
        entry: str | None = None,
        held: ExitStack | None = None,
        alone: bool = False,
    ) -> tuple[Approval | None, ApplyStart | None]:
        """Claim a request one click settles; a remembered approval makes its rule with it.
        A claim that wins closes the request's jobs, audit event and click ``entry`` in its
        own transaction. Also, when the claim began applying the decision too, what that
        attempt starts from.

        ``held``: the caller applies the decision itself once claimed. If the run's lock is
        free, it is taken now (and kept in ``held``), and a claim that wins counts its first
        attempt at applying in the same statement (``Store.claim_begin``): the attempt is
        counted under the lock, as :meth:`_apply` would, and the lock is not let go before the
        resume, so nothing can come between. A busy run is not waited for here: the claim is
        made by itself and :meth:`_apply` waits for the lock as usual.

        ``alone``: the click was checked without the run's sign-off lock (``Signing.guarded``);
        the claim is then lost to a request signed by distinct people recorded in its run
        meanwhile, which marked this one.

        A claim whose answer was lost (the connection dropped at its commit) is read back: if
        this very click won, it is carried out now, as any claim it won, not a minute later by
        the recovery sweep (its click, closed by the claim, is never retried)."""
        try:
            return self._claim_once(approval, decision, entry, held, alone)
        except Exception:
            latest = self.store.get_approval(approval.id)
            if latest is None or not replayed(latest, decision):
                raise
            logger.warning("request %s: claimed, though the answer was lost", approval.id)
            return latest, None

    def _claim_once(
        self,
        approval: Approval,
        decision: Decision,
        entry: str | None,
        held: ExitStack | None,
        alone: bool,
    ) -> tuple[Approval | None, ApplyStart | None]:
        if decision.remember is None or self.rules is None:
            closing = self._closing(approval, decision, entry=entry)
            if held is not None and _took(held, self.db.try_lock(approval.thread_id)):
                start = self.store.claim_begin(approval.id, decision, closing, alone)
                return (start.approval, start) if start else (None, None)
            return self.store.claim(approval.id, decision, closing, alone), None
        closes = partial(self._made, entry=entry)
        made = self.rules.claim(approval, decision, closes, alone)
        return (made[0] if made else None), None

    def _made(self, claimed: Approval, rule: Rule, entry: str | None) -> Closing:
        """What a claim that made ``rule`` closes: the rule's event and the decision's."""
        return self._closed(claimed, entry=entry, made=rule)

    def _offered(self, approval: Approval, decision: Decision) -> bool:
        """Whether the request offers this decision; Approve is always how the others sign an
        edit that stands (even on a request whose own choices have no Approve, an answer) --
        but one Approve answers a whole batch only if the version it signs, the one that
        stands, can be read in full, as its card says (a batch too long is signed call by
        call)."""
        if decision.type != "approve" or decision.items is not None:
            return self.agents.permits(approval.review, decision)
        standing = self.signing.standing_edit(approval)
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
                applying = self.worker.submit(self.apply, ballot.approval)
                return outcomes.Applied(ballot.approval, applying)
            if (reopened := self.apply(ballot.approval, started)) is not None:
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
        if ballot.outcome != "duplicate":
            self.journal.voted(latest, decision, str(self.signing.vote_kind(latest, decision)))
            self._redraw(latest)
        receipt = self.signing.receipt(latest, ballot)
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
        with self.signing.guard(current):
            edited = expire_as == "approve" and self.signing.standing_edit(current) is not None
            refused = expire_as == "approve" and self.signing.rejected_by_someone(current)
            # Someone answered it and the graph refused that answer (:meth:`_refused`), which
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
        closing = self._closing(approval, decision, job_id)
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
        self.worker.submit(self.apply, claimed)
        return True

    def _not_from_card(self, approval: Approval, decision: Decision) -> Outcome:
        """Refuse a click from somewhere else than the request's card. A second copy of the
        card in its channel (a crash came between Slack posting a card and us recording it,
        and the card was posted again) loses its buttons and points at the current card."""
        link = self.publisher.card_link(approval) if approval.ts else None
        prefix = f"message:{approval.channel}:"
        # Only a message that itself shows this request's buttons is a copy of its card.
        copy = decision.shows_request and approval.ts is not None
        if copy and decision.origin and decision.origin.startswith(prefix):
            stale_ts = decision.origin.removeprefix(prefix)
            try:
                self.publisher.retire_copy(approval, stale_ts, link)
            except Exception:
                logger.exception("could not retire a stale copy of card %s", approval.id)
        return outcomes.NotFromCard(approval, link)

    def _from_a_card(self, approval: Approval, origin: str | None) -> bool:
        """From the request's card, or one of its copies (in a decider's direct messages, in
        a later stage's channel): every copy is a door to the same rules."""
        if from_its_card(approval, origin):
            return True
        kind, _, place = (origin or "").partition(":")
        channel, _, ts = place.partition(":")
        return kind == "message" and bool(ts) and self.store.is_card_post(approval.id, channel, ts)

    def _with_card(
        self, approval: Approval, origin: str | None, shows: bool, quick: bool = False
    ) -> Approval:
        """The request with its card's ts, when a click comes from a card whose ts we lack.

        A click can beat us recording the ts (the card is posted under the thread's lock, so
        once we hold it the ts is there), or a crash came between Slack posting the card and
        us recording it: then the clicked message, if it is in the request's channel and shows
        this request's own buttons (``shows``), is adopted as its card, so the decision
        updates the message the person actually sees. ``quick``: before a modal opens, the
        lock is waited for briefly, then the request is taken as it is (LockBusy otherwise).
        """
        if approval.ts is not None or origin in (None, "view"):
            return approval
        if not quick:
            with self.db.key_lock(approval.thread_id):
                return self._adopt(approval, origin, shows)
        try:
            with self.db.key_lock(approval.thread_id, self.quick_lock):
                return self._adopt(approval, origin, shows)
        except LockBusy:  # the click's own processing looks again, with time to wait
            return self.store.get_approval(approval.id) or approval

    def _adopt(self, approval: Approval, origin: str | None, shows: bool) -> Approval:
        current = self.store.get_approval(approval.id) or approval
        prefix = f"message:{current.channel}:"
        if current.ts is None and shows and origin and origin.startswith(prefix):
            self.store.set_card(current.id, current.channel, origin.removeprefix(prefix))
            current = self.store.get_approval(approval.id) or current
        return current

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
        approval = self._with_card(approval, origin, shows, quick=True)
        if not self._from_a_card(approval, origin):
            return approval, outcomes.NotFromCard(approval)
        if not approval.pending:
            return approval, outcomes.AlreadyDecided(approval)
        if overdue_at is not None:
            return approval, outcomes.Expiring(approval, overdue_at)
        if version != approval.version:
            self.worker.submit(self.publisher.refresh, approval)
            return approval, outcomes.Changed(approval)
        why = self.signing.refusal(approval, user)
        return approval, outcomes.Refused(approval, why) if why is not None else None

    def apply(self, approval: Approval, started: ApplyStart | None = None) -> Approval | None:
        """Resume the thread with a claimed decision, unless that already happened. When
        another worker holds the run past the lock's wait, the decision stays claimed and
        unapplied (no attempt counted) for the recovery sweep. ``started``: the attempt its
        claim began (:meth:`_claim`), under the run's lock this thread still holds. The request,
        pending again, when the graph refused the decision (:meth:`_refused`); else None."""
        try:
            return self._apply(approval, started)
        except LockBusy as exc:
            logger.info("request %s: its run is busy (%s); left for the sweep", approval.id, exc)
            return None

    def _apply(self, approval: Approval, started: ApplyStart | None = None) -> Approval | None:
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
                    self._say_cancelled(run, approval.decision.by)
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
                    self.store.set_run_status(run.thread_id, "stopped", state.report)
                ended = not isinstance(state, Stop) and state.finished
                if not ended and not self._mark_applied(approval, attempt):
                    # Fenced out: this process lost the run's lock mid-resume and a later
                    # attempt took over; that one reports and publishes what came of it.
                    logger.warning("request %s: a later attempt took over", approval.id)
                    return None
            except RunnerUnavailable as exc:
                shown.result()
                self._unavailable(run, exc, current)
                return None
            except RunnerBusy:
                shown.result()
                # Not applied, and no attempt used: the runner watches the thread, and once it
                # settles :meth:`settled` applies this decision (the sweep would, too).
                logger.info("request %s waits for the run under way on its thread", approval.id)
                self.store.uncount_apply(approval.id)
                return None
            except ResumeRefused as exc:
                shown.result()
                if approval.interrupt_id in exc.interrupts:
                    return self._refused(run, current, attempt, exc)
                self._failed(run, exc, decided=True, gave_up=attempt.number >= MAX_APPLY_ATTEMPTS)
                return None
            except Exception as exc:
                shown.result()
                if not_due(exc):  # an effect waits out its backoff: this was no real attempt
                    self.store.uncount_apply(approval.id)
                self._failed(run, exc, decided=True, gave_up=attempt.number >= MAX_APPLY_ATTEMPTS)
                return None
            if isinstance(state, Stop):
                self._finish(run, state.report, unposted="stopped")
            elif ended:
                # Marked applied with the report, in one round trip (a crash before that finds
                # the decision unapplied and the graph finished: the sweep only reports it, and
                # the report's key keeps it to one post).
                card = current if start.card_id == current.id else None
                closing = _Ending(current, attempt.fence, card)
                self._finish(run, self.agents.report(run.graph, state), ending=closing)
            else:
                self._publish(run, state, known=run)
        return None

    def _refused(
        self, run: Run, claimed: Approval, attempt: ApplyAttempt, exc: ResumeRefused
    ) -> Approval | None:
        """The graph's own code refused the decision's answer and the thread still waits on its
        interrupt, the answer no longer stored there (the runner checked both with the
        checkpointer): nothing ran, and the same answer would be refused again. So the request
        is asked again rather than retried: pending, its card saying why, the refusal audited,
        the decider told in the run's thread. None when a later attempt took over meanwhile."""
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
        expiry a graph is never resumed with stops it, its report saying why; nothing ran."""
        assert claimed.decision is not None
        reason = claimed.decision.reason or "nobody decided in time"
        report = (
            f"Expired: {reason}. The agent refused the rejection the deadline gave it: {error}. "
            "The run did not continue; nothing ran."
        )
        # Stopped first: a crash before the mark leaves the decision to the sweep, which is
        # refused the same way and comes here again (a later attempt would say the same).
        self.store.set_run_status(run.thread_id, "stopped", report)
        if not self.store.mark_applied(claimed.id, attempt.fence, events):
            logger.warning("request %s: a later attempt took over", claimed.id)
            return
        self._finish(run, report, unposted="stopped")

    def _governing(self, approval: Approval) -> Any:
        """What the policy's sections read of the pause ``approval`` asks about."""
        return self.agents.governing(Pending.recorded(approval.interrupt_id, approval.payload))

    def _mark_applied(self, approval: Approval, attempt: ApplyAttempt) -> bool:
        """Mark the decision applied by this attempt, with its "executed" audit event, in one
        transaction (False: fenced out). A mark whose answer was lost (the connection dropped
        at its COMMIT: a failover, a database restart) is read back: if it committed, the
        decision is applied and no sweep will come back to it, so this attempt goes on to
        publish what the graph asks next; if it did not, the error is the attempt's (the
        decision stays unapplied, for the sweep)."""
        executed = (self.journal.executed_entry(approval),)
        try:
            return self.store.mark_applied(approval.id, attempt.fence, executed)
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
            hand(f"decision:{approval.id}", approval.thread_id, partial(self._apply, approval))
        for run in self.store.stale_runs(age):
            finish = partial(self._advance, run.thread_id, False)
            hand(f"run:{run.thread_id}", run.thread_id, finish)

    # publishing -------------------------------------------------------------
    def _publish(self, run: Run, state: RunState, known: Run | None = None) -> None:
        """Called with the thread locked: post cards for new interrupts, or the outcome.
        ``known``: the run as read under this same hold of the lock (nothing cancels it
        meanwhile: a cancel takes the lock), so it need not be read again."""
        latest = known or self.store.get_run(run.thread_id)
        if latest is not None and latest.status == "cancelled":
            return  # cancelled while this step ran: nothing more is asked or reported
        if state.finished:
            self._finish(run, self.agents.report(run.graph, state))
            return
        asks = False  # does anything wait for a person (else the run is on the move)
        refused = False  # Slack refused a card for good: the run is closed as failed
        for pending in state.pending:
            approval = self.store.find_approval(run.thread_id, pending.id)
            if approval is None:
                governing = self.agents.governing(pending)
                sign_off, thread_ts = self.signing.plan(run, governing, pending.node)
                review = self.agents.describe(run.graph, pending).in_round(sign_off.round)
                if self.rules is not None:
                    offer = self.rules.offer(run, pending.value, sign_off, review)
                    review = replace(review, remember=offer) if offer else review
                jobs = plan(self.policies.for_request(run.graph, governing), self.store.clock())
                payload = self.agents.payload_of(pending)
                # A DM-only request has no channel: it is recorded with the run's until its
                # first copy is posted (bot.core.routing).
                where = destination(sign_off.stages[0], run.approvals_channel)
                try:
                    approval = self.store.add_approval(
                        run, pending.id, payload, review, jobs, sign_off, thread_ts, where.channel
                    )
                except Exception:
                    # Its answer lost (the connection dropped at its commit): read back.
                    # Committed, the request is asked as usual; the run did not fail.
                    approval = self.store.find_approval(run.thread_id, pending.id)
                    if approval is None:
                        raise
                    logger.warning("request %s: recorded, though the answer was lost", approval.id)
                self.journal.requested(approval)
                if self.rules is not None and approval.pending:
                    approval = self._by_rule(self.rules, run, approval)
            if approval.pending and approval.ts is None:
                # Not posted for now: the recovery sweep tries again after a backoff.
                outcome = self.publisher.post(approval)
                refused = refused or outcome == "refused"
                asks = asks or outcome != "refused"
            elif approval.status == "failed":  # its card was refused before (a Retry)
                self.store.set_run_status(run.thread_id, "failed")
                refused = True
            else:
                asks = asks or approval.pending
                if approval.applied_at is not None and not state.running:
                    self._lost(approval)
        if refused:  # closed as failed with its request (bot.slack.card_posts), requester told
            return
        self.store.set_run_status(run.thread_id, "waiting" if asks else "running")

    def _by_rule(self, rules: Rules, run: Run, approval: Approval) -> Approval:
        """A new request a remembered approval covers is approved by it: no card, the decision
        the rule's (its maker's, ``via: rule``), one line in the run's thread. The rule's maker
        must still be someone who may decide the request; otherwise it is asked as usual."""
        rule = rules.matching(run, approval)
        if rule is None:
            return approval
        try:
            # Checked and claimed under the sign-off's lock, as a click is: a request of its
            # run signed by distinct people is not signed by the rule's maker meanwhile.
            with self.signing.guard(approval):
                if self.signing.refusal(approval, rule.created_by) is not None:
                    return approval
                made = rules.settle(approval, rule, partial(self._closed, rule=rule))
        except LockBusy:  # a click held it past the wait: asked as usual
            return self.store.get_approval(approval.id) or approval
        except Exception:
            # Its answer lost (the connection dropped at its commit): read back. Committed,
            # it is carried out as usual; the run is not called failed.
            latest = self.store.get_approval(approval.id)
            won = latest.decision if latest is not None else None
            if latest is None or won is None or won.via != "rule" or won.rule != rule.id:
                raise
            logger.warning("request %s: approved by rule, though the answer was lost", latest.id)
            made = latest, rule
        if made is None:  # revoked or expired this very moment: asked as usual
            return self.store.get_approval(approval.id) or approval
        claimed, _ = made
        self.journal.counted(claimed)
        # In the pool, once this step gives the run's lock back; it says the line too.
        self.worker.submit(self.apply, claimed)
        return claimed

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

    def _say_cancelled(self, run: Run, by: str) -> None:
        """The run's thread is told it was cancelled, once, whichever of its cancelled requests
        (or the sweep finishing one after a crash) gets here first."""
        try:
            self.ledger.once(
                f"{run.thread_id}:cancelled", partial(self.publisher.cancelled, run, by)
            )
        except Exception:
            logger.exception("could not say in its thread that run %s was cancelled", run.thread_id)

    def _lost(self, approval: Approval) -> None:
        """The graph still waits on a decision marked applied: its resume never reached the
        graph (a runner that lost it; the graph's own checkpoint is the proof), so it goes back
        to the decisions the recovery sweep applies. (One not yet applied is :meth:`apply`'s
        already, and a run with nothing to ask anybody stays "running", which the stale-run
        sweep looks at.) A request whose card Slack refused has no decision: never lost."""
        if approval.status == "failed":
            return
        logger.warning("request %s: the graph never had its decision; applying it", approval.id)
        self.store.reopen_apply(approval.id)

    def _finish(
        self,
        run: Run,
        report: str,
        unposted: RunStatus = "running",
        ending: _Ending | None = None,
    ) -> None:
        """Post the outcome once and mark the run done; if Slack refused the post, the run is
        left ``unposted`` ("running", or "stopped" when a decision ended it) for the sweep.
        ``ending``: the decision the run ended with, marked applied (fenced) in the same
        statement that records the report and the run's end."""
        if ending is None:
            try:
                post = partial(self.publisher.report, run, report)
                self.ledger.once(f"{run.thread_id}:report", post)
            except EffectRetry as exc:
                logger.warning("run %s: report not posted yet: %s", run.thread_id, exc)
                self.store.set_run_status(run.thread_id, unposted, report)
                return
            self.store.set_run_status(run.thread_id, "done", report)
            self.journal.done(run)
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
        if status == "done":
            events.append(self.journal.done_entry(run))
        effect = posted[0] if posted else None
        if not self.store.close_apply(approval.id, ending.fence, status, report, events, effect):
            # Fenced out: a later attempt took over (the report, recorded, is posted once).
            logger.warning("request %s: a later attempt took over", approval.id)

    def _failed(
        self, run: Run, exc: Exception, decided: bool = False, gave_up: bool = False
    ) -> None:
        if isinstance(exc, EffectRetry) or isinstance(exc.__cause__, EffectRetry):
            # Certainly not done, so safe to run again: the recovery sweep retries the step
            # (a claimed decision stays unapplied; a run stays "running").
            logger.warning("run %s: %s", run.thread_id, exc)
            self.store.set_run_status(run.thread_id, "running", str(exc))
            return
        logger.exception("run %s failed", run.thread_id, exc_info=exc)
        self.store.set_run_status(run.thread_id, "failed", f"{type(exc).__name__}: {exc}")
        self.journal.failed(run, f"{type(exc).__name__}: {exc}")
        if decided and not gave_up:
            return  # the sweep tries again; the people are told if it gives up
        problem = f"{type(exc).__name__}: {exc}"
        try:
            key = f"{run.thread_id}:failed:{self.store.clock()}"
            self.ledger.once(
                key,
                lambda: self.publisher.run_failed(run, problem, decided, MAX_APPLY_ATTEMPTS),
            )
        except Exception:
            logger.exception("could not report the failure of run %s", run.thread_id)

    def _unavailable(
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


@dataclass(frozen=True)
class _Ending:
    """A decision the run ended with, to be marked applied with the run's report: the request,
    its attempt's fencing token, and the run's latest card (None: the publisher looks it up)."""

    approval: Approval
    fence: int
    card: Approval | None


def replayed(approval: Approval, decision: Decision) -> bool:
    """This very click already won the request's claim: a crash came after it and before its
    inbox entry was closed. Applying it is the recovery sweep's work; nobody is told again."""
    won = approval.decision
    return decision.receipt is not None and won is not None and won.receipt == decision.receipt


def recounted(ballot: Ballot, decision: Decision) -> bool:
    """This very click's vote was counted already (by another process that took it over)."""
    receipt = decision.receipt
    if ballot.outcome != "duplicate" or receipt is None:
        return False
    return any(vote.decision.receipt == receipt for vote in ballot.votes)


def from_its_card(approval: Approval, origin: str | None) -> bool:
    """A click counts only from the request's own card or the App Home list; modals we opened
    carry no origin (their opening click was checked)."""
    if origin is None or origin == "view":
        return True
    return approval.ts is not None and origin == f"message:{approval.channel}:{approval.ts}"


def _took(held: ExitStack, lock: AbstractContextManager[None]) -> bool:
    """Whether ``lock`` was free: then it is held until ``held`` closes."""
    try:
        held.enter_context(lock)
    except LockBusy:
        return False
    return True
