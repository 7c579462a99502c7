"""The ``runs`` table: one row a LangGraph thread the bot started, its status and its lease."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.domain.models import (
    Approval,
    FailureNotice,
    Run,
    RunRequest,
    RunStatus,
)
from bot.store.audit_log import Entry, entries_json
from bot.store.rows import Rows
from bot.store.sql import runs as q
from bot.store.sql.attempts import RESET_APPLY
from bot.store.sql.audit_log import INSERT_AUDIT
from bot.store.sql.clicks import CLOSE_OPEN_CLICK


class RunRows(Rows):
    def create_run(self, thread_id: str, request: RunRequest) -> Run:
        """Record a new run; quick (it comes before the slash command's ack). Raises when it is
        not recorded, or :class:`~bot.store.db.base.OutcomeUnknown` when its connection was
        lost after it was sent and it could not be withdrawn (the stale-run sweep may start it)."""
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
                "on_behalf_of": request.on_behalf_of,
                "hand": request.hand,
            },
            undo=q.WITHDRAW_RUN,
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

    def end_run(
        self,
        thread_id: str,
        status: RunStatus,
        result: str | None,
        events: Sequence[Entry],
        notice: FailureNotice | None = None,
    ) -> bool:
        """The run ended without a decision (a step, the recovery sweep): moved to ``status``
        with ``result`` (as :meth:`set_run_status`) and its audit ``events`` (of this run)
        written, in one statement (PostgreSQL) or transaction (SQLite), so neither is ever
        without the other. Raises when they are not written, the audit rows with the rest
        (unlike :meth:`Audit.record`, whose failure is only logged). False when the run did
        not move (cancelled, or gone); its events are written all the same. ``notice``: what
        it owes its requester now (:meth:`owed_notices`), written with the rest; a failure
        without one keeps the notice an earlier failure owes still, a ``done`` end owes none."""
        now = self.clock()
        params = {"thread_id": thread_id, "status": status, "result": result, "now": now}
        owed = notice.to_json() if notice is not None else None
        if self.db.dialect == "postgres":
            events_json = entries_json(events, now)
            row = self.db.fetch_one(q.END_RUN, {**params, "events": events_json, "notice": owed})
            return bool(row and row["moved"])
        with self.db.transaction() as tx:
            moved = tx.execute(q.SET_RUN_STATUS, params)
            tx.execute(q.END_NOTICE, {**params, "notice": owed})
            for entry in events:
                tx.execute(INSERT_AUDIT, {**entry.params(now), "thread_id": thread_id})
        return bool(moved)

    def retry_run(
        self, thread_id: str, events: Sequence[Entry], click: str | None = None
    ) -> list[Approval] | None:
        """A failed run marked running again, and its decisions given up on given their
        attempts back (``RESET_APPLY``), in one transaction: a crash or a lost
        answer after the first never leaves a running run whose decision no sweep applies
        (nor may a Retry, the run no longer failed). Its audit ``events`` (who retried it)
        are written in the same transaction, only if it was retried; raises when they are
        not, and nothing is retried. ``click``: the Retry's inbox entry,
        closed in the same transaction, so that once the run is retried no taker of the
        click retries it again or answers it "nothing to retry". Only if still open: a taker
        whose lease ran out while another worked the click (and the run, retried, failed again
        since) finds it closed, and retries nothing. Those decisions, to be applied again;
        None when the run was no longer failed (or gone), or the click was worked already."""
        now = self.clock()
        params = {"thread_id": thread_id, "now": now}
        try:
            with self.db.transaction() as tx:
                if not tx.execute(q.RETRY_RUN, params):
                    return None
                rows = tx.fetch_all(RESET_APPLY, {"thread_id": thread_id})
                if click is not None and not tx.execute(
                    CLOSE_OPEN_CLICK, {"id": click, "now": now}
                ):
                    raise _WorkedAlready  # rolled back: the run stays failed
                for entry in events:
                    tx.execute(INSERT_AUDIT, entry.params(now))
        except _WorkedAlready:
            return None
        return [Approval.from_row(r) for r in rows]

    def rerun_done(self, thread_id: str) -> None:
        """The run a Retry set going (``Run.rerun``) was run again: no later move repeats it."""
        self.db.execute(q.RERUN_DONE, {"thread_id": thread_id})

    def set_trace(self, thread_id: str, trace_id: str) -> None:
        """The run's latest invocation is traced as ``trace_id`` (bot.agents.traces)."""
        self.db.execute(q.SET_RUN_TRACE, {"thread_id": thread_id, "trace_id": trace_id})

    def owed_notices(self, older_than: float, limit: int = 50) -> list[tuple[Run, FailureNotice]]:
        """Failed runs whose failure notice was not said (a crash came first, or Slack refused
        it for now), failed at least ``older_than`` seconds ago."""
        params = {"before": self.clock() - older_than, "limit": limit}
        rows = self.db.fetch_all(q.OWED_NOTICES, params)
        return [(Run.from_row(r), FailureNotice.from_json(r["notice"])) for r in rows]

    def notice_owed(self, thread_id: str, notice: FailureNotice) -> bool:
        """The run is failed and owes ``notice`` still (not retried nor failed anew since)."""
        params = {"thread_id": thread_id, "notice": notice.to_json()}
        return self.db.fetch_one(q.NOTICE_OWED, params) is not None

    def notice_said(self, thread_id: str, notice: FailureNotice) -> None:
        """The run's failure ``notice`` was said (or given up on): no longer owed."""
        self.db.execute(q.NOTICE_SAID, {"thread_id": thread_id, "notice": notice.to_json()})

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


class _WorkedAlready(Exception):
    """Raised inside retry_run's transaction, to roll it back: its click was worked already."""
