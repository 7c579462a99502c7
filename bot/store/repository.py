"""Runs, approval requests, decisions and side-effect records, over :mod:`bot.store.db`."""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain.models import (
    Approval,
    CardPost,
    Decision,
    EffectDone,
    InboxEntry,
    Job,
    JobStatus,
    Run,
    RunRequest,
    RunStatus,
    Waiting,
    status_for,
)
from bot.domain.review import Review
from bot.domain.signoff import SignOff
from bot.domain.timeline import PlannedJob
from bot.domain.votes import Vote, tally
from bot.store.audit_log import Entry, entries_json
from bot.store.db import queries as q
from bot.store.db.base import Database
from bot.store.rules import Rule, insert_params

Clock = Callable[[], float]


MAX_APPLY_ATTEMPTS = 5  # a claimed decision whose resume keeps failing is then reported


def new_id() -> str:
    return secrets.token_hex(8)


class Store:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # runs ---------------------------------------------------------------
    def create_run(self, thread_id: str, request: RunRequest) -> Run:
        """Record a new run; quick (it comes before the slash command's ack)."""
        row = self.db.fetch_one_quick(
            q.INSERT_RUN,
            {
                "thread_id": thread_id,
                "graph": request.graph,
                "request": request.text,
                "requester": request.requester,
                "channel": request.channel,
                "approvals_channel": request.approvals_channel,
                "now": self.clock(),
            },
        )
        assert row is not None
        return Run.from_row(row)

    def get_run(self, thread_id: str) -> Run | None:
        row = self.db.fetch_one(q.GET_RUN, {"thread_id": thread_id})
        return Run.from_row(row) if row else None

    def runs_by_prefix(self, prefix: str, limit: int = 2) -> list[Run]:
        params = {"prefix": f"{prefix}%", "limit": limit}
        return [Run.from_row(r) for r in self.db.fetch_all(q.RUNS_BY_PREFIX, params)]

    def runs_of(self, requester: str, limit: int = 10) -> list[Run]:
        """A person's latest runs, newest first."""
        params = {"requester": requester, "limit": limit}
        return [Run.from_row(r) for r in self.db.fetch_all(q.RUNS_OF, params)]

    def set_run_status(self, thread_id: str, status: RunStatus, result: str | None = None) -> None:
        params = {"thread_id": thread_id, "status": status, "result": result, "now": self.clock()}
        self.db.execute(q.SET_RUN_STATUS, params)

    def set_trace(self, thread_id: str, trace_id: str) -> None:
        """The run's latest invocation is traced as ``trace_id`` (bot.agents.traces)."""
        self.db.execute(q.SET_RUN_TRACE, {"thread_id": thread_id, "trace_id": trace_id})

    def stale_runs(self, older_than: float, limit: int = 50) -> list[Run]:
        now = self.clock()
        params = {"before": now - older_than, "now": now, "limit": limit}
        return [Run.from_row(r) for r in self.db.fetch_all(q.STALE_RUNS, params)]

    def lease(self, thread_ids: Iterable[str], until: float | None) -> None:
        """Lease runs to this process's workers until ``until`` (None: give the lease up)."""
        ids = list(thread_ids)
        if not ids:
            return
        params: dict[str, Any] = {f"t{i}": t for i, t in enumerate(ids)}
        sql = q.SET_LEASES.format(ids=", ".join(f"%(t{i})s" for i in range(len(ids))))
        self.db.execute(sql, {**params, "until": until})

    # approvals ----------------------------------------------------------
    def add_approval(
        self,
        run: Run,
        interrupt_id: str,
        payload: Any,
        review: Review,
        jobs: Iterable[PlannedJob] = (),
        signoff: SignOff | None = None,
        thread_ts: str | None = None,
        channel: str | None = None,
    ) -> Approval:
        """Record a pending request for an interrupt, with its reminders, escalations and
        expiry, in one transaction; the same interrupt is recorded once. ``channel``: where
        its card goes (default the run's approvals channel)."""
        approval_id = new_id()
        with self.db.transaction() as tx:
            inserted = tx.execute(
                q.INSERT_APPROVAL,
                {
                    "id": approval_id,
                    "thread_id": run.thread_id,
                    "interrupt_id": interrupt_id,
                    "graph": run.graph,
                    "request": run.request,
                    "requester": run.requester,
                    "payload": json.dumps(payload, default=str),
                    "review": json.dumps(review.to_dict(), default=str),
                    "signoff": json.dumps(signoff.to_dict()) if signoff else None,
                    "thread_ts": thread_ts,
                    "channel": channel or run.approvals_channel,
                    "now": self.clock(),
                },
            )
            if inserted:
                for job in jobs:
                    tx.execute(q.INSERT_JOB, _job_params(approval_id, job))
        approval = self.find_approval(run.thread_id, interrupt_id)
        assert approval is not None
        return approval

    def find_approval(self, thread_id: str, interrupt_id: str) -> Approval | None:
        """The request recorded for an interrupt, if there is one."""
        params = {"thread_id": thread_id, "interrupt_id": interrupt_id}
        row = self.db.fetch_one(q.GET_APPROVAL_BY_INTERRUPT, params)
        return Approval.from_row(row) if row else None

    def get_approval(self, approval_id: str, quick: bool = False) -> Approval | None:
        """``quick``: before an ack, where waiting seconds for the database is not an option."""
        read = self.db.fetch_one_quick if quick else self.db.fetch_one
        row = read(q.GET_APPROVAL, {"id": approval_id})
        return Approval.from_row(row) if row else None

    def latest_card(self, thread_id: str) -> Approval | None:
        row = self.db.fetch_one(q.LATEST_APPROVAL_FOR_RUN, {"thread_id": thread_id})
        return Approval.from_row(row) if row else None

    def run_approvals(self, thread_id: str) -> list[Approval]:
        """Every request of a run, oldest first."""
        rows = self.db.fetch_all(q.RUN_APPROVALS, {"thread_id": thread_id})
        return [Approval.from_row(r) for r in rows]

    def approvals_of_runs(self, thread_ids: Iterable[str]) -> list[Approval]:
        """Every request of these runs, in one query (App Home reads a page of runs at once)."""
        ids = sorted(set(thread_ids))
        if not ids:
            return []
        sql = self._with_ids(q.RUNS_APPROVALS)
        return [Approval.from_row(r) for r in self.db.fetch_all(sql, {"ids": json.dumps(ids)})]

    def set_card(self, approval_id: str, channel: str, ts: str) -> None:
        self.db.execute(q.SET_CARD, {"id": approval_id, "channel": channel, "ts": ts})

    def add_card_post(self, post: CardPost) -> None:
        params = {**post.__dict__, "now": self.clock()}
        self.db.execute(q.INSERT_CARD_POST, params)

    def card_posts(self, approval_id: str) -> list[CardPost]:
        """Every message showing the request, first posted first."""
        rows = self.db.fetch_all(q.CARD_POSTS, {"approval_id": approval_id})
        return [CardPost.from_row(r) for r in rows]

    def is_card_post(self, approval_id: str, channel: str, ts: str) -> bool:
        """Whether this message is one of the request's cards (a copy in a DM, say)."""
        params = {"approval_id": approval_id, "channel": channel, "ts": ts}
        return self.db.fetch_one(q.IS_CARD_POST, params) is not None

    def spread(self, approval_ids: Iterable[str]) -> set[str]:
        """Of these requests, the ones with cards in more than one place."""
        params = {"ids": json.dumps(sorted(set(approval_ids)))}
        rows = self.db.fetch_all(self._with_ids(q.SPREAD), params)
        return {str(row["approval_id"]) for row in rows}

    def claim(
        self, approval_id: str, decision: Decision, closing: Closing | None = None
    ) -> Approval | None:
        """Move a pending request to its decided state; None if someone else got there first.
        With ``closing``, a claim that wins also closes what the decision ends (its jobs, its
        click, its audit event) in the same round trip."""
        params = self._claim_params(approval_id, decision)
        if closing is None:
            row = self.db.fetch_one(q.CLAIM, params)
            return Approval.from_row(row) if row else None
        now = params["now"]
        more = {"keep": closing.keep, "entry": closing.entry}
        if self.db.dialect == "postgres":
            events = entries_json(closing.events, now)
            row = self.db.fetch_one(q.CLAIM_CLOSING, {**params, **more, "events": events})
            return Approval.from_row(row) if row else None
        with self.db.transaction() as tx:
            row = tx.fetch_one(q.CLAIM, params)
            if row is None:
                return None
            tx.execute(q.CANCEL_JOBS, {"approval_id": approval_id, "now": now, **more})
            for entry in closing.events:
                tx.execute(q.INSERT_AUDIT, entry.params(now))
            if closing.entry is not None:
                tx.execute(q.FINISH_INBOX, {"id": closing.entry, "now": now})
        return Approval.from_row(row)

    def claim_remembering(
        self, approval_id: str, decision: Decision, scope: dict[str, str], expires_at: float
    ) -> tuple[Approval, Rule] | None:
        """Claim a request with an approval that is remembered: the rule is made in the same
        transaction as the claim, so both happen once or neither (None: someone else won)."""
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
                claimed = tx.fetch_one(q.CLAIM, self._claim_params(approval_id, won))
                if claimed is None:
                    raise _TooLate
                return Approval.from_row(claimed), rule
        except _TooLate:
            return None

    def claim_by_rule(self, approval_id: str, rule_id: int) -> tuple[Approval, Rule] | None:
        """Claim a new request as approved by a remembered approval, if the rule is still in
        force at this moment (used and claimed in one transaction: see ``USE_RULE``)."""
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
                return Approval.from_row(claimed), rule
        except _TooLate:
            return None

    def _claim_params(self, approval_id: str, decision: Decision) -> dict[str, Any]:
        return {
            "id": approval_id,
            "status": status_for(decision),
            "by": decision.by,
            "now": self.clock(),
            "decision": decision.to_json(),
        }

    # votes: requests that take more than one click ------------------------------------
    def votes(self, approval_id: str) -> list[Vote]:
        return [_vote(r) for r in self.db.fetch_all(q.VOTES, {"approval_id": approval_id})]

    def vote(self, approval_id: str, stage: int, decision: Decision, kind: str) -> Ballot:
        """Count one person's vote on stage ``stage`` of a pending request, for the version
        of it they saw (``decision.version``), in one transaction with the request's row
        locked; claim the request when the vote settles it.

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
            return self._settle(tx, approval, stage, decision, votes)

    def _settle(
        self, tx: Any, approval: Approval, voted_at: int, decision: Decision, votes: list[Vote]
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
        claimed = tx.fetch_one(q.CLAIM, self._claim_params(approval.id, final))
        return Ballot("decided", Approval.from_row(claimed) if claimed else None, votes)

    def cancel_run(self, thread_id: str, decision: Decision, note: str) -> list[Approval] | None:
        """Cancel a run and close its pending requests as cancelled, in one transaction; None
        (and nothing changed) when the run is over, or a decision of it was claimed and not
        yet carried out: the cancel came too late."""
        params = {"thread_id": thread_id, "result": note, "now": self.clock()}
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
                return claimed
        except _TooLate:
            return None

    def _votes(self, tx: Any, approval_id: str) -> list[Vote]:
        return [_vote(r) for r in tx.fetch_all(q.VOTES, {"approval_id": approval_id})]

    def mark_applied(self, approval_id: str, fence: int | None = None) -> bool:
        """The decision reached the graph; its run moves on (see ``RUN_MOVES_ON``). With a
        ``fence`` (the attempt's token from :meth:`count_apply`), only if no later attempt
        started meanwhile. False when it was applied already or the token is stale."""
        now = self.clock()
        params = {"id": approval_id, "now": now, "fence": fence}
        with self.db.transaction() as tx:
            sql = q.MARK_APPLIED if fence is None else q.MARK_APPLIED_FENCED
            row = tx.fetch_one(sql, params)
            if row is not None:
                tx.execute(q.RUN_MOVES_ON, {"thread_id": row["thread_id"], "now": now})
        return row is not None

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

    def begin_apply(self, approval_id: str) -> ApplyStart | None:
        """Under the run's lock: one more attempt at applying a decision (:meth:`count_apply`),
        with the request and its run as they are now and the id of the run's latest card, in
        one round trip. None when it is applied already (or gone)."""
        params = {"id": approval_id}
        if self.db.dialect == "postgres":
            row = self.db.fetch_one(q.BEGIN_APPLY, params)
            if row is None:
                return None
            approval, run, card_id = row["approval"], row["run"], row["card_id"]
            posts = row["posts"]
        else:
            with self.db.transaction() as tx:
                approval = tx.fetch_one(q.COUNT_APPLY_ROW, params)
                if approval is None:
                    return None
                thread = {"thread_id": approval["thread_id"]}
                run = tx.fetch_one(q.GET_RUN, thread)
                card = tx.fetch_one(q.LATEST_CARD_ID, thread)
                posts = tx.fetch_all(q.CARD_POSTS, {"approval_id": approval_id})
            if run is None:
                return None
            card_id = card["id"] if card else None
        attempt = ApplyAttempt(int(approval["apply_attempts"]), int(approval["apply_fence"]))
        return ApplyStart(
            Approval.from_row(approval),
            Run.from_row(run),
            attempt,
            card_id,
            [CardPost.from_row(p) for p in posts],
        )

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

    def reset_apply(self, thread_id: str) -> list[Approval]:
        """Decisions of a run given up on, to be tried again (a person pressed Retry)."""
        rows = self.db.fetch_all(q.RESET_APPLY, {"thread_id": thread_id})
        return [Approval.from_row(r) for r in rows]

    # cards: posting them, and what Slack said --------------------------------------
    def cards_due(
        self, older_than: float, limit: int = 50, per_channel: int = 10
    ) -> list[Approval]:
        """Pending requests whose card is to be posted now, at most ``per_channel`` a channel:
        those whose last try failed and whose backoff has passed, and those never tried that
        are older than ``older_than`` (a crash came before their first post)."""
        now = self.clock()
        params = {
            "now": now,
            "before": now - older_than,
            "limit": limit,
            "per_channel": per_channel,
        }
        return [Approval.from_row(r) for r in self.db.fetch_all(q.CARDS_DUE, params)]

    def card_retry(self, approval_id: str, due_at: float) -> int:
        """A card post failed for now; returns how many have failed (0: the request was posted
        or closed meanwhile, and nothing changed)."""
        row = self.db.fetch_one(q.CARD_RETRY, {"id": approval_id, "due_at": due_at})
        return int(row["card_attempts"]) if row else 0

    def card_refused(self, approval_id: str, reason: str) -> Approval | None:
        """Slack refused a pending request's card for good: close the request as failed, drop
        its reminders and expiry, and mark its run failed, in one transaction. None when the
        request was no longer pending without a card (nothing changed)."""
        now = self.clock()
        with self.db.transaction() as tx:
            row = tx.fetch_one(q.CARD_REFUSED, {"id": approval_id, "now": now})
            if row is None:
                return None
            tx.execute(q.CANCEL_JOBS, {"approval_id": approval_id, "keep": "", "now": now})
            params = {"thread_id": row["thread_id"], "result": reason, "now": now}
            tx.execute(q.RUN_CARD_REFUSED, params)
        return Approval.from_row(row)

    def pending(self, limit: int = 100) -> list[Approval]:
        return [Approval.from_row(r) for r in self.db.fetch_all(q.PENDING, {"limit": limit})]

    def count_pending(self) -> int:
        row = self.db.fetch_one(q.COUNT_PENDING)
        return int(row["n"]) if row else 0

    # inbox: clicks recorded before their ack -------------------------------------
    def add_inbox(self, approval_id: str, decision: Decision, channel: str | None) -> str:
        entry_id = new_id()
        params = {
            "id": entry_id,
            "approval_id": approval_id,
            "decision": decision.to_json(),
            "channel": channel,
            "now": self.clock(),
        }
        self.db.execute_quick(q.INSERT_INBOX, params)
        return entry_id

    def take_click(self, entry_id: str, lease: float) -> TakenClick | None:
        """:meth:`take_inbox`, with the request the click names and its expiry if that fell
        due by the time the click arrived, in one round trip."""
        now = self.clock()
        params = {"id": entry_id, "now": now, "lease": now + lease}
        if self.db.dialect == "postgres":
            row = self.db.fetch_one(q.TAKE_CLICK, params)
            if row is None:
                return None
            entry, approval, overdue = row["entry"], row["approval"], row["overdue"]
        else:
            with self.db.transaction() as tx:
                entry = tx.fetch_one(q.TAKE_INBOX, params)
                if entry is None:
                    return None
                approval = tx.fetch_one(q.GET_APPROVAL, {"id": entry["approval_id"]})
                due = {"approval_id": entry["approval_id"], "now": entry["received_at"]}
                overdue = tx.fetch_one(q.OVERDUE_EXPIRY, due)
        return TakenClick(
            InboxEntry.from_row(entry),
            Approval.from_row(approval) if approval else None,
            Job.from_row(overdue) if overdue else None,
        )

    def take_inbox(self, entry_id: str, lease: float) -> InboxEntry | None:
        now = self.clock()
        row = self.db.fetch_one(q.TAKE_INBOX, {"id": entry_id, "now": now, "lease": now + lease})
        return InboxEntry.from_row(row) if row else None

    def release_inbox(self, entry_id: str, lease: float) -> None:
        self.db.execute(q.RELEASE_INBOX, {"id": entry_id, "lease": lease})

    def finish_inbox(self, entry_id: str) -> None:
        self.db.execute(q.FINISH_INBOX, {"id": entry_id, "now": self.clock()})

    def earlier_clicks(self, approval_id: str, before: float) -> list[str]:
        """Recorded clicks on a request, still unprocessed, that arrived by ``before``."""
        params = {"approval_id": approval_id, "before": before}
        return [row["id"] for row in self.db.fetch_all(q.EARLIER_CLICKS, params)]

    def open_inbox(self, older_than: float, limit: int = 100) -> list[str]:
        now = self.clock()
        params = {"before": now - older_than, "now": now, "limit": limit}
        return [row["id"] for row in self.db.fetch_all(q.OPEN_INBOX, params)]

    # jobs -------------------------------------------------------------------------
    def add_job(self, approval_id: str, job: PlannedJob) -> None:
        self.db.execute(q.INSERT_JOB, _job_params(approval_id, job))

    def claim_due_jobs(self, lease: float, limit: int = 20) -> list[Job]:
        now = self.clock()
        # One statement, atomic on its own: no BEGIN/COMMIT round trips around it.
        rows = self.db.fetch_all(
            q.CLAIM_DUE_JOBS, {"now": now, "lease": now + lease, "limit": limit}
        )
        return sorted((Job.from_row(r) for r in rows), key=lambda j: j.due_at)

    def finish_job(self, job_id: str, status: JobStatus = "done") -> None:
        self.db.execute(q.FINISH_JOB, {"id": job_id, "status": status, "now": self.clock()})

    def finish_jobs(self, job_ids: Iterable[str], status: JobStatus = "done") -> None:
        """:meth:`finish_job` for many jobs, in one statement."""
        params = {"ids": json.dumps(list(job_ids)), "status": status, "now": self.clock()}
        self.db.execute(self._with_ids(q.FINISH_JOBS), params)

    def remindable(self, approval_ids: Iterable[str]) -> dict[str, Waiting]:
        """Of these requests, the ones a reminder can go out for now (pending, card posted,
        expiry not due), by id; one query for a whole batch of due reminders."""
        params = {"ids": json.dumps(sorted(set(approval_ids))), "now": self.clock()}
        sql = self._with_ids(q.REMINDABLE, summary=q.REVIEW_SUMMARY[self.db.dialect])
        return {row["id"]: Waiting.from_row(row) for row in self.db.fetch_all(sql, params)}

    def _with_ids(self, sql: str, **parts: str) -> str:
        return sql.format(ids=q.ID_LIST[self.db.dialect], **parts)

    def retry_job(self, job_id: str, delay: float, error: str) -> None:
        params = {"id": job_id, "due_at": self.clock() + delay, "error": error[:1000]}
        self.db.execute(q.RETRY_JOB, params)

    def cancel_jobs(self, approval_id: str, keep: str = "") -> None:
        """Cancel what is left to do for a decided request (but ``keep``, the running job)."""
        params = {"approval_id": approval_id, "keep": keep, "now": self.clock()}
        self.db.execute(q.CANCEL_JOBS, params)

    def jobs_for(self, approval_id: str) -> list[Job]:
        return [
            Job.from_row(r) for r in self.db.fetch_all(q.JOBS_FOR, {"approval_id": approval_id})
        ]

    def overdue_expiry(self, approval_id: str, at: float | None = None) -> Job | None:
        """The request's expiry, if it fell due by ``at`` (default: now)."""
        now = self.clock() if at is None else at
        row = self.db.fetch_one(q.OVERDUE_EXPIRY, {"approval_id": approval_id, "now": now})
        return Job.from_row(row) if row else None


class _TooLate(Exception):
    """Rolls a cancel back: a decision of the run was claimed first."""


@dataclass(frozen=True)
class Closing:
    """What a decision's claim closes when it wins, in its own round trip: the request's jobs
    (but ``keep``, the job that decides it), the audit ``events`` and the click ``entry`` it
    came from."""

    events: Sequence[Entry] = ()
    keep: str = ""
    entry: str | None = None


@dataclass
class TakenClick:
    """A click taken from the inbox, with the request it names (None: no such request) and that
    request's expiry if it fell due before the click arrived. ``closed``: set once the claim
    that won closed the click (nothing more to write for it)."""

    entry: InboxEntry
    approval: Approval | None
    overdue: Job | None
    closed: bool = False


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
        receipt=None,
        via=last.via,  # the audit row says which door the completing vote came through
        on_behalf_of=last.on_behalf_of,
    )


def _job_params(approval_id: str, job: PlannedJob) -> dict[str, Any]:
    return {
        "id": new_id(),
        "approval_id": approval_id,
        "kind": job.kind,
        "level": job.level,
        "round": job.round,
        "detail": json.dumps(job.detail),
        "due_at": job.due_at,
    }
