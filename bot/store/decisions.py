"""Deciding a request: claims (alone, with a remembered approval, by a rule), votes counted
against a sign-off, and a run's cancel. Carrying a decision out is bot.store.attempts."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain.models import (
    Approval,
    Decision,
    status_for,
)
from bot.domain.signoff import SignOff
from bot.domain.votes import Vote, tally
from bot.store.attempts import ApplyStart, started, starting
from bot.store.audit_log import Entry, entries_json
from bot.store.db.base import Row, Session
from bot.store.rows import Rows
from bot.store.rules import Rule, insert_params
from bot.store.sql import decisions as q
from bot.store.sql.audit_log import INSERT_AUDIT
from bot.store.sql.clicks import FINISH_INBOX
from bot.store.sql.jobs import CANCEL_JOBS
from bot.store.sql.requests import GET_APPROVAL, RUN_APPROVALS
from bot.store.sql.rules import INSERT_RULE, USE_RULE

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
                started(row["approval"], row["run"], row["card_id"], row["posts"]) if row else None
            )
        with self.db.transaction() as tx:
            approval = self._claim_closing(tx, q.CLAIM_COUNTED, params, closing)
            return starting(tx, approval) if approval else None

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
                row = tx.fetch_one(GET_APPROVAL, {"id": approval_id})
                if row is None:
                    return None
                params = insert_params(
                    scope, decision.by, now, expires_at, approval_id, row["thread_id"]
                )
                rule = Rule.from_row(tx.fetch_one(INSERT_RULE, params) or {})
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
                used = tx.fetch_one(USE_RULE, {"id": rule_id, "now": now})
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
        voted: Sequence[Entry] = (),
    ) -> Ballot:
        """Count one person's vote on stage ``stage`` of a pending request, for the version
        of it they saw (``decision.version``), in one transaction with the request's row
        locked; claim the request when the vote settles it, with what the claim closes
        (``closing``: its audit event, jobs and click, as a single click's claim does), else
        write the vote's own audit events (``voted``) in that transaction, so a counted vote
        is never without them (raises when they are not written, the vote with them).

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
            ballot = self._settle(tx, approval, stage, decision, votes, closing)
            if ballot.outcome != "decided":  # a settling vote's event is the decision's
                now = self.clock()
                for entry in voted:
                    tx.execute(INSERT_AUDIT, entry.params(now))
            return ballot

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
                for row in tx.fetch_all(RUN_APPROVALS, {"thread_id": thread_id}):
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
                        tx.execute(INSERT_AUDIT, entry.params(now))
                return claimed
        except _TooLate:
            return None

    def _votes(self, tx: Any, approval_id: str) -> list[Vote]:
        return [_vote(r) for r in tx.fetch_all(q.VOTES, {"approval_id": approval_id})]


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
    tx.execute(CANCEL_JOBS, {"approval_id": approval_id, "now": now, **more})
    for entry in closing.events:
        tx.execute(INSERT_AUDIT, entry.params(now))
    if closing.entry is not None:
        tx.execute(FINISH_INBOX, {"id": closing.entry, "now": now})
