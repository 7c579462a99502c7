"""The ``approvals`` and ``card_posts`` tables: the requests a run waits on and every message
showing one, from their recording to their card's post (or Slack's refusal of it)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from bot.domain.models import (
    Approval,
    CardPost,
    Run,
    new_id,
)
from bot.domain.review import Review
from bot.domain.signoff import SignOff
from bot.domain.timeline import PlannedJob
from bot.store.audit_log import Entry, entries_json, write_audited
from bot.store.jobs import job_params
from bot.store.rows import Rows
from bot.store.sql import requests as q
from bot.store.sql.audit_log import INSERT_AUDIT
from bot.store.sql.jobs import CANCEL_JOBS, INSERT_JOB


class RequestRows(Rows):
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
        events: Sequence[Entry] = (),
    ) -> Approval:
        """Record a pending request for an interrupt, with its reminders, escalations and
        expiry and its audit ``events`` (``requested``: each written as the new request's),
        in one transaction, so neither is ever without the other; raises when they are not
        written, the request with them. The same interrupt is recorded once (and its events
        written once). ``channel``: where its card goes (default the run's approvals
        channel)."""
        approval_id = new_id()
        distinct = signoff is not None and signoff.distinct
        now = self.clock()
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
                    "now": now,
                    "distinct": 1 if distinct else 0,
                },
            )
            if inserted and distinct:
                tx.execute(q.MARK_DISTINCT_RUN, {"thread_id": run.thread_id})
            if inserted:
                for job in jobs:
                    tx.execute(INSERT_JOB, job_params(approval_id, job))
                for entry in events:
                    tx.execute(INSERT_AUDIT, {**entry.params(now), "approval_id": approval_id})
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

    def approval_for_form(self, approval_id: str) -> tuple[Approval | None, float | None]:
        """Before a form opens (a trigger_id lives 3 s, so quick): the request, and when its
        deadline passed, if it has and its expiry has not run yet."""
        params = {"id": approval_id, "now": self.clock()}
        row = self.db.fetch_one_quick(q.APPROVAL_FOR_FORM, params)
        if not row:
            return None, None
        return Approval.from_row(row), row["overdue_at"]

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
        sql = self.with_ids(q.RUNS_APPROVALS)
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
        rows = self.db.fetch_all(self.with_ids(q.SPREAD), params)
        return {str(row["approval_id"]) for row in rows}

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

    def card_retry(self, approval_id: str, due_at: float, events: Sequence[Entry]) -> int:
        """A card post failed for now, with its audit ``events`` written in the same statement
        (PostgreSQL) or transaction (SQLite); returns how many have failed (0: the request was
        posted or closed meanwhile, and nothing changed, no event written either)."""
        now = self.clock()
        params = {"id": approval_id, "due_at": due_at}
        row = write_audited(self.db, q.CARD_RETRY_AUDITED, q.CARD_RETRY, params, events, now)
        return int(row["card_attempts"]) if row else 0

    def card_refused(
        self, approval_id: str, reason: str, events: Sequence[Entry]
    ) -> Approval | None:
        """Slack refused a pending request's card for good: close the request as failed, drop
        its reminders and expiry, mark its run failed (``reason``) and write its audit
        ``events``, in one statement (PostgreSQL) or transaction (SQLite), so neither is ever
        without the other; raises when they are not written. None when the request was no
        longer pending without a card (nothing changed, no event written)."""
        now = self.clock()
        params = {"id": approval_id, "now": now, "result": reason}
        if self.db.dialect == "postgres":
            events_json = entries_json(events, now)
            row = self.db.fetch_one(q.CARD_REFUSED_AUDITED, {**params, "events": events_json})
            return Approval.from_row(row) if row else None
        with self.db.transaction() as tx:
            row = tx.fetch_one(q.CARD_REFUSED, params)
            if row is None:
                return None
            tx.execute(CANCEL_JOBS, {"approval_id": approval_id, "keep": "", "now": now})
            tx.execute(q.RUN_CARD_REFUSED, {**params, "thread_id": row["thread_id"]})
            for entry in events:
                tx.execute(INSERT_AUDIT, entry.params(now))
        return Approval.from_row(row)

    def pending(self, limit: int = 100) -> list[Approval]:
        return [Approval.from_row(r) for r in self.db.fetch_all(q.PENDING, {"limit": limit})]

    def count_pending(self) -> int:
        row = self.db.fetch_one(q.COUNT_PENDING)
        return int(row["n"]) if row else 0
