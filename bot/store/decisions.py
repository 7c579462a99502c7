"""Deciding a request and carrying the decision out: claims (alone, with a remembered approval,
by a rule), votes counted against a sign-off, a run's cancel, and the fenced bookkeeping of
each attempt at applying a decision (``apply_attempts``, ``apply_fence``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain.models import (
    Approval,
    CardPost,
    Decision,
    EffectDone,
    Run,
    RunStatus,
    status_for,
)
from bot.domain.signoff import SignOff
from bot.domain.timeline import PlannedJob
from bot.domain.votes import Vote, tally
from bot.store.audit_log import Entry, entries_json
from bot.store.db import queries as q
from bot.store.db.base import Row, Session
from bot.store.jobs import job_params
from bot.store.rows import Rows
from bot.store.rules import Rule, insert_params

MAX_APPLY_ATTEMPTS = 5  # a claimed decision whose resume keeps failing is then reported
# What a claim closes when it wins, made from the request as the claim left it (the decision
# of a sign-off or a cancel is only known in the claim's own transaction).
Closes = Callable[[Approval], "Closing"]
# ... and from the rule the claim made or used.
ClosesWithRule = Callable[[Approval, Rule], "Closing"]


class DecisionRows(Rows):
    def claim(
        self,
        approval_id: str,
        decision: Decision,
        closing: Closing | None = None,
        alone: bool = False,
    ) -> Approval | None:
        """Move a pending request to its decided state; None if someone else got there first.
        With ``closing``, a claim that wins also closes what the decision ends (its jobs, its
        click, its audit event) in the same round trip. ``alone``: the click was checked
        without the run's sign-off lock; None too if a request of its run is now signed by
        distinct people (``Approval.distinct_run``)."""
        params = self._claim_params(approval_id, decision, alone)
        if closing is None:
            row = self.db.fetch_one(q.CLAIM, params)
            return Approval.from_row(row) if row else None
        if self.db.dialect == "postgres":
            row = self.db.fetch_one(q.CLAIM_CLOSING, self._closing_params(params, closing))
            return Approval.from_row(row) if row else None
        with self.db.transaction() as tx:
            row = self._claim_closing(tx, q.CLAIM, params, closing)
        return Approval.from_row(row) if row else None

    def claim_begin(
        self, approval_id: str, decision: Decision, closing: Closing, alone: bool = False
    ) -> ApplyStart | None:
        """:meth:`claim` with ``closing`` and :meth:`begin_apply` in one round trip, for the
        worker that holds the run's lock and goes on to apply the decision: a claim that wins
        is its first attempt at applying (fence 1). None if someone else got there first
        (``alone``: as for :meth:`claim`)."""
        params = self._claim_params(approval_id, decision, alone)
        if self.db.dialect == "postgres":
            row = self.db.fetch_one(q.CLAIM_BEGIN, self._closing_params(params, closing))
            return (
                _started(row["approval"], row["run"], row["card_id"], row["posts"]) if row else None
            )
        with self.db.transaction() as tx:
            approval = self._claim_closing(tx, q.CLAIM_COUNTED, params, closing)
            return self._start(tx, approval) if approval else None

    @staticmethod
    def _closing_params(params: dict[str, Any], closing: Closing) -> dict[str, Any]:
        events = entries_json(closing.events, params["now"])
        return {**params, "keep": closing.keep, "entry": closing.entry, "events": events}

    @staticmethod
    def _claim_closing(
        tx: Session, claim: str, params: dict[str, Any], closing: Closing
    ) -> Row | None:
        """SQLite: the claim, then (when it won) what it closes, in the caller's transaction."""
        row = tx.fetch_one(claim, params)
        if row is not None:
            _close(tx, params["id"], params["now"], closing)
        return row

    def claim_remembering(
        self,
        approval_id: str,
        decision: Decision,
        scope: dict[str, str],
        expires_at: float,
        closing: ClosesWithRule | None = None,
        alone: bool = False,
    ) -> tuple[Approval, Rule] | None:
        """Claim a request with an approval that is remembered: the rule is made in the same
        transaction as the claim, so both happen once or neither (None: someone else won).
        ``closing``: what the claim closes (its audit events, jobs, click), in it too;
        ``alone``: as for :meth:`claim`."""
        now = self.clock()
        try:
            with self.db.transaction() as tx:
                row = tx.fetch_one(q.GET_APPROVAL, {"id": approval_id})
                if row is None:
                    return None
                params = insert_params(
                    scope, decision.by, now, expires_at, approval_id, row["thread_id"]
                )
                rule = Rule.from_row(tx.fetch_one(q.INSERT_RULE, params) or {})
                won = replace(decision, rule=rule.id)
                claimed = tx.fetch_one(q.CLAIM, self._claim_params(approval_id, won, alone))
                if claimed is None:
                    raise _TooLate
                approval = Approval.from_row(claimed)
                if closing is not None:
                    _close(tx, approval_id, now, closing(approval, rule))
                return approval, rule
        except _TooLate:
            return None

    def claim_by_rule(
        self, approval_id: str, rule_id: int, closing: Closes | None = None
    ) -> tuple[Approval, Rule] | None:
        """Claim a new request as approved by a remembered approval, if the rule is still in
        force at this moment (used and claimed in one transaction: see ``USE_RULE``), with
        what the claim closes (``closing``: its audit event, its jobs)."""
        now = self.clock()
        try:
            with self.db.transaction() as tx:
                used = tx.fetch_one(q.USE_RULE, {"id": rule_id, "now": now})
                if used is None:
                    return None
                rule = Rule.from_row(used)
                decision = Decision("approve", rule.created_by, via="rule", rule=rule.id)
                claimed = tx.fetch_one(q.CLAIM, self._claim_params(approval_id, decision))
                if claimed is None:
                    raise _TooLate
                approval = Approval.from_row(claimed)
                if closing is not None:
                    _close(tx, approval_id, now, closing(approval))
                return approval, rule
        except _TooLate:
            return None

    def _claim_params(
        self, approval_id: str, decision: Decision, alone: bool = False
    ) -> dict[str, Any]:
        return {
            "id": approval_id,
            "alone": 1 if alone else 0,
            "status": status_for(decision),
            "by": decision.by,
            "now": self.clock(),
            "decision": decision.to_json(),
        }

    # votes: requests that take more than one click ------------------------------------
    def votes(self, approval_id: str, quick: bool = False) -> list[Vote]:
        """``quick``: before an ack, where waiting seconds for the database is not an option."""
        read = self.db.fetch_all_quick if quick else self.db.fetch_all
        return [_vote(r) for r in read(q.VOTES, {"approval_id": approval_id})]

    def vote(
        self,
        approval_id: str,
        stage: int,
        decision: Decision,
        kind: str,
        closing: Closes | None = None,
    ) -> Ballot:
        """Count one person's vote on stage ``stage`` of a pending request, for the version
        of it they saw (``decision.version``), in one transaction with the request's row
        locked; claim the request when the vote settles it, with what the claim closes
        (``closing``: its audit event, jobs and click, as a single click's claim does).

        An edit is a new version: every other vote (of every stage) was for the old one and
        is set aside, and the request goes back to its first stage, so each stage signs what
        will actually run; the editor's own vote counts for their stage."""
        with self.db.transaction() as tx:
            row = tx.fetch_one(q.LOCK_PENDING, {"id": approval_id})
            if row is None:
                return Ballot("closed")
            approval = Approval.from_row(row)
            if (decision.version or 1) != approval.version:
                return Ballot("stale", approval, self._votes(tx, approval_id))
            if approval.stage != stage:
                return Ballot("moved", approval)
            params = {"approval_id": approval_id, "stage": stage, "voter": decision.by}
            cast = tx.execute(
                q.CAST_VOTE,
                {
                    **params,
                    "vote": kind,
                    "decision": decision.to_json(),
                    "now": self.clock(),
                    "version": approval.version,
                },
            )
            if not cast:
                return Ballot("duplicate", approval, self._votes(tx, approval_id))
            if kind == "edit":
                tx.execute(q.VOID_OTHER_VOTES, params)
                tx.execute(q.NEW_VERSION, {"id": approval_id})
                approval = replace(approval, version=approval.version + 1, stage=0)
            votes = self._votes(tx, approval_id)
            return self._settle(tx, approval, stage, decision, votes, closing)

    def _settle(
        self,
        tx: Any,
        approval: Approval,
        voted_at: int,
        decision: Decision,
        votes: list[Vote],
        closing: Closes | None,
    ) -> Ballot:
        """Where the request stands after a vote: from its current stage on, a stage whose
        standing votes already meet its quorum is passed (an editor's vote at a later stage
        still counts there once the earlier stages signed the new version)."""
        sign_off = approval.signoff or SignOff()
        stage = approval.stage
        while True:
            rules = sign_off.stages[stage]
            count = tally(votes, stage)
            if count.refused(rules):
                final = replace(decision, approvers=_signers(votes) or None)
                break
            if not count.met(rules):
                if stage != approval.stage:
                    tx.execute(q.SET_STAGE, {"id": approval.id, "stage": stage})
                moved = replace(approval, stage=stage)
                if stage > voted_at:
                    return Ballot("advanced", moved, votes)
                if stage < voted_at:
                    return Ballot("returned", moved, votes)
                return Ballot("counted", moved, votes)
            if stage + 1 >= len(sign_off.stages):
                final = _signed(decision, votes)
                break
            stage += 1
        params = self._claim_params(approval.id, final)
        claimed = tx.fetch_one(q.CLAIM, params)
        if claimed is None:
            return Ballot("decided", None, votes)
        settled = Approval.from_row(claimed)
        if closing is not None:
            _close(tx, approval.id, params["now"], closing(settled))
        return Ballot("decided", settled, votes)

    def cancel_run(
        self,
        thread_id: str,
        decision: Decision,
        note: str,
        closing: Closes | None = None,
        alone: Sequence[Entry] = (),
    ) -> list[Approval] | None:
        """Cancel a run and close its pending requests as cancelled, in one transaction; None
        (and nothing changed) when the run is over, or a decision of it was claimed and not
        yet carried out: the cancel came too late. In the same transaction: what each claim
        closes (``closing``: its audit event, its jobs), or, when the run waited on no
        request, the events of the run's cancel (``alone``)."""
        now = self.clock()
        params = {"thread_id": thread_id, "result": note, "now": now}
        try:
            with self.db.transaction() as tx:
                if not tx.execute(q.CANCEL_RUN, params):
                    return None
                claimed = []
                for row in tx.fetch_all(q.RUN_APPROVALS, {"thread_id": thread_id}):
                    if row["status"] != "pending":
                        continue
                    won = tx.fetch_one(q.CLAIM, self._claim_params(row["id"], decision))
                    if won is not None:
                        claimed.append(Approval.from_row(won))
                # Read after the claims: a decision that beat one of them is seen here.
                if tx.fetch_all(q.UNAPPLIED_OF_RUN, {"thread_id": thread_id}):
                    raise _TooLate
                for approval in claimed:
                    if closing is not None:
                        _close(tx, approval.id, now, closing(approval))
                if not claimed:
                    for entry in alone:
                        tx.execute(q.INSERT_AUDIT, entry.params(now))
                return claimed
        except _TooLate:
            return None

    def _votes(self, tx: Any, approval_id: str) -> list[Vote]:
        return [_vote(r) for r in tx.fetch_all(q.VOTES, {"approval_id": approval_id})]

    def mark_applied(
        self, approval_id: str, fence: int | None = None, events: Sequence[Entry] = ()
    ) -> bool:
        """The decision reached the graph; its run moves on (see ``RUN_MOVES_ON``) and
        ``events`` are written, in one transaction. With a ``fence`` (the attempt's token from
        :meth:`count_apply`), only if no later attempt started meanwhile. False when it was
        applied already or the token is stale."""
        now = self.clock()
        params = {"id": approval_id, "now": now, "fence": fence}
        with self.db.transaction() as tx:
            sql = q.MARK_APPLIED if fence is None else q.MARK_APPLIED_FENCED
            row = tx.fetch_one(sql, params)
            if row is not None:
                tx.execute(q.RUN_MOVES_ON, {"thread_id": row["thread_id"], "now": now})
                for entry in events:
                    tx.execute(q.INSERT_AUDIT, entry.params(now))
        return row is not None

    def applied_with(self, approval_id: str, fence: int) -> bool:
        """Whether the attempt whose token is ``fence`` marked the decision applied: read back
        when :meth:`mark_applied` raised, as its commit may have gone through all the same."""
        sql = q.APPLIED_MARK_WAITING if self.db.dialect == "postgres" else q.APPLIED_MARK
        row = self.db.fetch_one(sql, {"id": approval_id})
        return row is not None and row["applied_at"] is not None and row["apply_fence"] == fence

    def unapplied(self, older_than: float, limit: int = 50) -> list[Approval]:
        params = {
            "before": self.clock() - older_than,
            "limit": limit,
            "max_attempts": MAX_APPLY_ATTEMPTS,
        }
        return [Approval.from_row(r) for r in self.db.fetch_all(q.UNAPPLIED, params)]

    def unapplied_of_run(self, thread_id: str) -> list[Approval]:
        """The run's decisions not yet applied (nor given up on), oldest first."""
        params = {"thread_id": thread_id, "max_attempts": MAX_APPLY_ATTEMPTS}
        return [Approval.from_row(r) for r in self.db.fetch_all(q.UNAPPLIED_IN_RUN, params)]

    def reopen_apply(self, approval_id: str) -> bool:
        """A decision marked applied that the graph never received: to be applied again."""
        return bool(self.db.execute(q.REOPEN_APPLY, {"id": approval_id}))

    def reopen_refused(
        self,
        approval_id: str,
        fence: int,
        refused: str,
        events: Sequence[Entry] = (),
        jobs: Sequence[PlannedJob] | None = None,
    ) -> Approval | None:
        """The graph refused the decision its attempt ``fence`` handed it: the request pending
        again (see ``REOPEN_REFUSED``), with ``events``, in one transaction. ``jobs``: its
        timeline from now instead of the jobs its claim closed (whatever is left pending is
        cancelled); and a redraw of its card, due now. None (nothing changed) when a later
        attempt took over, or the decision is applied or gone."""
        now = self.clock()
        params = {"id": approval_id, "fence": fence, "refused": refused, "now": now}
        try:
            with self.db.transaction() as tx:
                if jobs is None:
                    tx.execute(q.RESTORE_JOBS, params)
                row = tx.fetch_one(q.REOPEN_REFUSED, params)
                if row is None:
                    raise _TooLate
                if jobs is not None:
                    tx.execute(q.CANCEL_JOBS, {"approval_id": approval_id, "keep": "", "now": now})
                    for job in jobs:
                        tx.execute(q.INSERT_JOB, job_params(approval_id, job))
                # Its card is redrawn open again by the caller; should the process die first,
                # the scheduler's next tick does it (the decided card would stay, no buttons).
                redraw = PlannedJob("refresh", now)
                tx.execute(q.INSERT_JOB, job_params(approval_id, redraw))
                tx.execute(q.VOID_VOTES, params)
                tx.execute(q.RUN_WAITS_AGAIN, {"thread_id": row["thread_id"], "now": now})
                for entry in events:
                    tx.execute(q.INSERT_AUDIT, entry.params(now))
                return Approval.from_row(row)
        except _TooLate:
            return None

    def begin_apply(self, approval_id: str) -> ApplyStart | None:
        """Under the run's lock: one more attempt at applying a decision (:meth:`count_apply`),
        with the request and its run as they are now and the id of the run's latest card, in
        one round trip. None when it is applied already (or gone)."""
        params = {"id": approval_id}
        if self.db.dialect == "postgres":
            row = self.db.fetch_one(q.BEGIN_APPLY, params)
            return (
                _started(row["approval"], row["run"], row["card_id"], row["posts"]) if row else None
            )
        with self.db.transaction() as tx:
            approval = tx.fetch_one(q.COUNT_APPLY_ROW, params)
            return self._start(tx, approval) if approval else None

    @staticmethod
    def _start(tx: Session, approval: Row) -> ApplyStart | None:
        """SQLite: what an attempt starts from, read in the transaction that counted it."""
        thread = {"thread_id": approval["thread_id"]}
        run = tx.fetch_one(q.GET_RUN, thread)
        if run is None:
            return None
        card = tx.fetch_one(q.LATEST_CARD_ID, thread)
        posts = tx.fetch_all(q.CARD_POSTS, {"approval_id": approval["id"]})
        return _started(approval, run, card["id"] if card else None, posts)

    def close_apply(
        self,
        approval_id: str,
        fence: int,
        status: RunStatus,
        result: str | None,
        events: Sequence[Entry] = (),
        effect: EffectDone | None = None,
    ) -> bool:
        """A decision whose run ended with it: record its report's effect done (``effect``),
        mark the decision applied (fenced, as :meth:`mark_applied`) and, only if that held,
        move its run to ``status`` with ``result`` and write ``events``, in one round trip.
        False (the run untouched) when a later attempt took over."""
        now = self.clock()
        approval = {"id": approval_id, "fence": fence, "now": now}
        if self.db.dialect == "postgres":
            row = self.db.fetch_one(
                q.CLOSE_APPLY,
                {
                    **approval,
                    "status": status,
                    "result": result,
                    "events": entries_json(events, now),
                    "effect": effect.key if effect else None,
                    "effect_result": effect.result if effect else None,
                },
            )
            return bool(row and row["applied"])
        with self.db.transaction() as tx:
            if effect is not None:
                done = {"status": "done", "result": effect.result, "retry_at": None}
                tx.execute(q.FINISH_EFFECT, {"key": effect.key, "now": now, **done})
            row = tx.fetch_one(q.MARK_APPLIED_FENCED, approval)
            if row is None:
                return False
            moved = {"thread_id": row["thread_id"], "status": status, "result": result}
            tx.execute(q.SET_RUN_STATUS, {**moved, "now": now})
            for entry in events:
                tx.execute(q.INSERT_AUDIT, entry.params(now))
        return True

    def count_apply(self, approval_id: str) -> ApplyAttempt:
        """One more attempt at applying a decision: how many there have been, and its token."""
        row = self.db.fetch_one(q.COUNT_APPLY, {"id": approval_id})
        if row is None:
            return ApplyAttempt(0, 0)
        return ApplyAttempt(int(row["apply_attempts"]), int(row["apply_fence"]))

    def uncount_apply(self, approval_id: str) -> None:
        """An attempt that never reached the agent server does not count against the limit."""
        self.db.execute(q.UNCOUNT_APPLY, {"id": approval_id})

    def give_up_apply(self, approval_id: str, fence: int, error: str) -> bool:
        """No more attempts at applying a decision by the sweep, its attempt ``fence`` having
        failed for good with ``error``, and its run failed, in one transaction (so no sweep finds
        the run under way meanwhile and steps it again); :meth:`reset_apply` (a person's Retry)
        gives them back. False, nothing changed, when a later attempt began meanwhile."""
        now = self.clock()
        params = {"id": approval_id, "fence": fence, "max_attempts": MAX_APPLY_ATTEMPTS}
        with self.db.transaction() as tx:
            row = tx.fetch_one(q.GIVE_UP_APPLY, params)
            if row is None:
                return False
            failed = {"thread_id": row["thread_id"], "status": "failed", "result": error}
            tx.execute(q.SET_RUN_STATUS, {**failed, "now": now})
        return True

    def reset_apply(self, thread_id: str) -> list[Approval]:
        """Decisions of a run given up on, to be tried again (a person pressed Retry)."""
        rows = self.db.fetch_all(q.RESET_APPLY, {"thread_id": thread_id})
        return [Approval.from_row(r) for r in rows]


class _TooLate(Exception):
    """Rolls a cancel back (a decision of the run was claimed first), or a reopening (a later
    attempt took over)."""


@dataclass(frozen=True)
class Closing:
    """What a decision's claim closes when it wins, in its own round trip: the request's jobs
    (but ``keep``, the job that decides it), the audit ``events`` and the click ``entry`` it
    came from."""

    events: Sequence[Entry] = ()
    keep: str = ""
    entry: str | None = None


@dataclass(frozen=True)
class ApplyStart:
    """What an attempt at applying a decision starts from (:meth:`Store.begin_apply`)."""

    approval: Approval
    run: Run
    attempt: ApplyAttempt
    card_id: str | None  # the run's latest card
    posts: list[CardPost]  # the request's cards and notices (bot.slack.card_posts)


@dataclass(frozen=True)
class ApplyAttempt:
    """``number``: attempts so far that count against the limit; ``fence``: this attempt's
    fencing token, which only ever grows (see :meth:`Store.mark_applied`)."""

    number: int
    fence: int


@dataclass(frozen=True)
class Ballot:
    """What a vote did: ``closed`` (already decided), ``stale`` (it was for an older version of
    the request), ``moved`` (the request went on to another stage meanwhile), ``duplicate``
    (this person already voted), ``counted``, ``advanced`` (to a later stage), ``returned``
    (an edit sent the new version back to the first stage) or ``decided`` (``approval`` is
    then the claimed request; None when the run was cancelled meanwhile)."""

    outcome: str
    approval: Approval | None = None
    votes: list[Vote] = field(default_factory=list)


def _vote(row: dict[str, Any]) -> Vote:
    return Vote(
        voter=row["voter"],
        stage=int(row["stage"]),
        vote=row["vote"],
        decision=Decision.from_json(row["decision"]),
        void=bool(row["void"]),
    )


def _signers(votes: list[Vote]) -> list[str]:
    """Everyone whose approval stands, stage by stage, in the order they signed."""
    stages = sorted({v.stage for v in votes})
    return [voter for stage in stages for voter in tally(votes, stage).approvals]


def _signed(last: Decision, votes: list[Vote]) -> Decision:
    """The decision a complete sign-off resumes the graph with: the latest edit that stands (or
    a plain approval), by the person who completed it, with everyone who signed."""
    edits = [v.decision for v in votes if v.vote == "edit" and not v.void]
    base = edits[-1] if edits else Decision("approve", last.by)
    return replace(
        base,
        by=last.by,
        approvers=_signers(votes),
        origin=None,
        receipt=last.receipt,  # the click that completed it (a replay of it is recognised)
        via=last.via,  # the audit row says which door the completing vote came through
        on_behalf_of=last.on_behalf_of,
        hand=last.hand,
    )


def _close(tx: Session, approval_id: str, now: float, closing: Closing) -> None:
    """What a claim that won closes, in its transaction: the request's jobs (but
    ``closing.keep``), its audit events, the click it came from."""
    more = {"keep": closing.keep, "entry": closing.entry}
    tx.execute(q.CANCEL_JOBS, {"approval_id": approval_id, "now": now, **more})
    for entry in closing.events:
        tx.execute(q.INSERT_AUDIT, entry.params(now))
    if closing.entry is not None:
        tx.execute(q.FINISH_INBOX, {"id": closing.entry, "now": now})


def _started(approval: Row, run: Row, card_id: str | None, posts: list[Row]) -> ApplyStart:
    attempt = ApplyAttempt(int(approval["apply_attempts"]), int(approval["apply_fence"]))
    return ApplyStart(
        Approval.from_row(approval),
        Run.from_row(run),
        attempt,
        card_id,
        [CardPost.from_row(p) for p in posts],
    )
