"""Carrying a decision out: the fenced bookkeeping of each attempt at applying it
(``apply_attempts``, ``apply_fence``), what an attempt starts from, and how one ends (applied,
refused by the graph and reopened, given up on, reset by a person's Retry)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.models import Approval, CardPost, EffectDone, FailureNotice, Run, RunStatus
from bot.domain.timeline import PlannedJob
from bot.store.audit_log import Entry, entries_json
from bot.store.db.base import Row, Session
from bot.store.jobs import job_params
from bot.store.rows import Rows
from bot.store.sql import attempts as q
from bot.store.sql.audit_log import INSERT_AUDIT
from bot.store.sql.effects import FINISH_EFFECT
from bot.store.sql.jobs import CANCEL_JOBS, INSERT_JOB
from bot.store.sql.requests import CARD_POSTS
from bot.store.sql.runs import GET_RUN, SET_NOTICE, SET_RUN_STATUS

MAX_APPLY_ATTEMPTS = 5  # a claimed decision whose resume keeps failing is then reported


class AttemptRows(Rows):
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
                    tx.execute(INSERT_AUDIT, entry.params(now))
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
                    raise _TookOver
                if jobs is not None:
                    tx.execute(CANCEL_JOBS, {"approval_id": approval_id, "keep": "", "now": now})
                    for job in jobs:
                        tx.execute(INSERT_JOB, job_params(approval_id, job))
                # Its card is redrawn open again by the caller; should the process die first,
                # the scheduler's next tick does it (the decided card would stay, no buttons).
                redraw = PlannedJob("refresh", now)
                tx.execute(INSERT_JOB, job_params(approval_id, redraw))
                tx.execute(q.VOID_VOTES, params)
                tx.execute(q.RUN_WAITS_AGAIN, {"thread_id": row["thread_id"], "now": now})
                for entry in events:
                    tx.execute(INSERT_AUDIT, entry.params(now))
                return Approval.from_row(row)
        except _TookOver:
            return None

    def begin_apply(self, approval_id: str) -> ApplyStart | None:
        """Under the run's lock: one more attempt at applying a decision (:meth:`count_apply`),
        with the request and its run as they are now and the id of the run's latest card, in
        one round trip. None when it is applied already (or gone)."""
        params = {"id": approval_id}
        if self.db.dialect == "postgres":
            row = self.db.fetch_one(q.BEGIN_APPLY, params)
            return (
                started(row["approval"], row["run"], row["card_id"], row["posts"]) if row else None
            )
        with self.db.transaction() as tx:
            approval = tx.fetch_one(q.COUNT_APPLY_ROW, params)
            return starting(tx, approval) if approval else None

    def close_apply(
        self,
        approval_id: str,
        fence: int,
        status: RunStatus,
        result: str | None,
        events: Sequence[Entry] = (),
        effect: EffectDone | None = None,
        effect_events: Sequence[Entry] = (),
    ) -> bool:
        """A decision whose run ended with it: record its report's effect done (``effect``)
        with its own audit events (``effect_events``: written whatever the fence says, as the
        effect's done is), mark the decision applied (fenced, as :meth:`mark_applied`) and,
        only if that held, move its run to ``status`` with ``result`` and write ``events``, in
        one round trip. False (the run untouched) when a later attempt took over."""
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
                    "effect_events": entries_json(effect_events, now),
                },
            )
            return bool(row and row["applied"])
        with self.db.transaction() as tx:
            if effect is not None:
                done = {"status": "done", "result": effect.result, "retry_at": None}
                tx.execute(FINISH_EFFECT, {"key": effect.key, "now": now, **done})
                for entry in effect_events:
                    tx.execute(INSERT_AUDIT, entry.params(now))
            row = tx.fetch_one(q.MARK_APPLIED_FENCED, approval)
            if row is None:
                return False
            moved = {"thread_id": row["thread_id"], "status": status, "result": result}
            tx.execute(SET_RUN_STATUS, {**moved, "now": now})
            for entry in events:
                tx.execute(INSERT_AUDIT, entry.params(now))
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

    def give_up_apply(
        self, approval_id: str, fence: int, error: str, notice: FailureNotice | None = None
    ) -> bool:
        """No more attempts at applying a decision by the sweep, its attempt ``fence`` having
        failed for good with ``error``, and its run failed, in one transaction (so no sweep finds
        the run under way meanwhile and steps it again); ``RunRows.retry_run`` (a person's
        Retry) gives them back. False, nothing changed, when a later attempt began meanwhile.
        ``notice``: what the run owes its requester now (``RunRows.owed_notices``), with it."""
        now = self.clock()
        params = {"id": approval_id, "fence": fence, "max_attempts": MAX_APPLY_ATTEMPTS}
        with self.db.transaction() as tx:
            row = tx.fetch_one(q.GIVE_UP_APPLY, params)
            if row is None:
                return False
            failed = {"thread_id": row["thread_id"], "status": "failed", "result": error}
            tx.execute(SET_RUN_STATUS, {**failed, "now": now})
            if notice is not None:
                owed = {"thread_id": row["thread_id"], "notice": notice.to_json()}
                tx.execute(SET_NOTICE, owed)
        return True


class _TookOver(Exception):
    """Rolls a reopening back: a later attempt took over, or the decision is applied."""


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


def starting(tx: Session, approval: Row) -> ApplyStart | None:
    """SQLite: what an attempt starts from, read in the transaction that counted it."""
    thread = {"thread_id": approval["thread_id"]}
    run = tx.fetch_one(GET_RUN, thread)
    if run is None:
        return None
    card = tx.fetch_one(q.LATEST_CARD_ID, thread)
    posts = tx.fetch_all(CARD_POSTS, {"approval_id": approval["id"]})
    return started(approval, run, card["id"] if card else None, posts)


def started(approval: Row, run: Row, card_id: str | None, posts: list[Row]) -> ApplyStart:
    attempt = ApplyAttempt(int(approval["apply_attempts"]), int(approval["apply_fence"]))
    return ApplyStart(
        Approval.from_row(approval),
        Run.from_row(run),
        attempt,
        card_id,
        [CardPost.from_row(p) for p in posts],
    )
