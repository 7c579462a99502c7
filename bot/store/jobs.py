"""The ``jobs`` table: reminders, escalations and expiry, due at a time, claimed under a lease."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from bot.domain.models import (
    Job,
    JobStatus,
    Waiting,
    new_id,
)
from bot.domain.timeline import PlannedJob
from bot.store.audit_log import Entry, entries_json
from bot.store.db.base import ACK_WINDOW
from bot.store.rows import Rows
from bot.store.sql import jobs as q
from bot.store.sql.audit_log import INSERT_AUDIT


class JobRows(Rows):
    def add_job(self, approval_id: str, job: PlannedJob) -> None:
        self.db.execute(q.INSERT_JOB, job_params(approval_id, job))

    def claim_due_jobs(self, lease: float, limit: int = 20) -> list[Job]:
        """Jobs due now, leased to this process; an expiry only once its deadline is
        ``ACK_WINDOW`` past (a click received before it may still be being written)."""
        now = self.clock()
        params = {"now": now, "expire_by": now - ACK_WINDOW, "lease": now + lease, "limit": limit}
        # One statement, atomic on its own: no BEGIN/COMMIT round trips around it.
        rows = self.db.fetch_all(q.CLAIM_DUE_JOBS, params)
        return sorted((Job.from_row(r) for r in rows), key=lambda j: j.due_at)

    def renew_jobs(self, jobs: Iterable[Job], lease: float) -> set[str]:
        """Of these jobs, the ids of those still leased to this process, leased again for
        ``lease`` seconds from now; the others were claimed by another process meanwhile (or
        finished). One statement for jobs claimed together (one lease)."""
        held: dict[float, list[str]] = {}
        for job in jobs:
            if job.locked_until is not None:
                held.setdefault(job.locked_until, []).append(job.id)
        renewed: set[str] = set()
        for ours, ids in held.items():
            params = {"ids": json.dumps(ids), "ours": ours, "lease": self.clock() + lease}
            rows = self.db.fetch_all(self.with_ids(q.RENEW_JOBS), params)
            renewed.update(str(row["id"]) for row in rows)
        return renewed

    def finish_job(
        self, job_id: str, status: JobStatus = "done", events: Sequence[Entry] = ()
    ) -> None:
        """A job done (or ``status``), with the audit ``events`` of what it did (a reminder,
        an escalation) in the same statement (PostgreSQL) or transaction (SQLite), whether or
        not it was still pending: raises when they are not written, and the job stays as it
        was (taken again once its lease has passed)."""
        params = {"id": job_id, "status": status, "now": self.clock()}
        self._finish(q.FINISH_JOB, q.FINISH_JOB_AUDITED, params, events)

    def finish_jobs(
        self, job_ids: Iterable[str], status: JobStatus = "done", events: Sequence[Entry] = ()
    ) -> None:
        """:meth:`finish_job` for many jobs, in one statement."""
        params = {"ids": json.dumps(list(job_ids)), "status": status, "now": self.clock()}
        plain, audited = self.with_ids(q.FINISH_JOBS), self.with_ids(q.FINISH_JOBS_AUDITED)
        self._finish(plain, audited, params, events)

    def _finish(
        self, plain: str, audited: str, params: dict[str, Any], events: Sequence[Entry]
    ) -> None:
        now = params["now"]
        if not events:
            self.db.execute(plain, params)
        elif self.db.dialect == "postgres":
            self.db.execute(audited, {**params, "events": entries_json(events, now)})
        else:
            with self.db.transaction() as tx:
                tx.execute(plain, params)
                for entry in events:
                    tx.execute(INSERT_AUDIT, entry.params(now))

    def remindable(self, approval_ids: Iterable[str]) -> dict[str, Waiting]:
        """Of these requests, the ones a reminder can go out for now (pending, card posted,
        expiry not due), by id; one query for a whole batch of due reminders."""
        params = {"ids": json.dumps(sorted(set(approval_ids))), "now": self.clock()}
        sql = self.with_ids(q.REMINDABLE, summary=q.REVIEW_SUMMARY[self.db.dialect])
        return {row["id"]: Waiting.from_row(row) for row in self.db.fetch_all(sql, params)}

    def retry_job(self, job_id: str, delay: float, error: str) -> None:
        params = {"id": job_id, "retry_at": self.clock() + delay, "error": error[:1000]}
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


def job_params(approval_id: str, job: PlannedJob) -> dict[str, Any]:
    return {
        "id": new_id(),
        "approval_id": approval_id,
        "kind": job.kind,
        "level": job.level,
        "round": job.round,
        "detail": json.dumps(job.detail),
        "due_at": job.due_at,
    }
