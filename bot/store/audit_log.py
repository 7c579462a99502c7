"""The audit trail: every event of every run, who caused it and when, kept append-only.

Events: ``started``, ``requested`` (a card), ``reminded``, ``escalated``, ``voted`` (one vote
of several), the decisions (``approved``, ``edited`` with before and after, ``rejected`` with the
reason, ``expired``, ``cancelled``, ``responded``, ``decided``...), ``executed`` (the decision was
applied to the graph) or ``sent`` (handed to a LangGraph Server, which runs it in its own time),
``refused_by_agent`` (the graph refused the answer: asked again), ``done``, ``failed`` and
``retried`` (a person's Retry of a failed run). The store only ever inserts and reads them.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.store.db.base import Database, Row
from bot.store.sql import audit_log as q

logger = logging.getLogger(__name__)
# The export's fields, in order, named the same in CSV, JSON Lines and the README.
FIELDS = ("at", "time", "run", "request", "event", "actor", "detail")


@dataclass(frozen=True)
class Event:
    at: float
    thread_id: str
    event: str
    actor: str
    approval_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Event:
        return cls(
            at=row["at"],
            thread_id=row["thread_id"],
            event=row["event"],
            actor=row["actor"],
            approval_id=row["approval_id"],
            detail=json.loads(row["detail"] or "{}"),
        )


@dataclass(frozen=True)
class Entry:
    """An event not yet written: the store writes it in the statement of what it records
    (:meth:`bot.store.repository.Store.claim`, :meth:`~bot.store.repository.Store.close_apply`,
    :meth:`~bot.store.repository.Store.end_run`, :meth:`~bot.store.repository.Store.card_refused`
    and every other write that takes ``events``), so that a decision, a run's end, a card's
    refusal... and its audit rows are one round trip, and never one without the other."""

    event: str
    thread_id: str
    actor: str
    approval_id: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def params(self, at: float) -> dict[str, Any]:
        return {
            "at": at,
            "thread_id": self.thread_id,
            "approval_id": self.approval_id,
            "event": self.event,
            "actor": self.actor,
            "detail": json.dumps(self.detail, default=str, sort_keys=True),
        }


def entries_json(entries: Sequence[Entry], at: float) -> str:
    """Entries as the JSON list the decision path's statements insert from (:mod:`bot.store.sql`:
    ``[at, event, actor, detail, approval_id or "", thread_id]`` each)."""
    rows = []
    for entry in entries:
        p = entry.params(at)
        rows.append(
            [at, p["event"], p["actor"], p["detail"], p["approval_id"] or "", p["thread_id"]]
        )
    return json.dumps(rows)


def write_audited(
    db: Database,
    audited: str,
    plain: str,
    params: dict[str, Any],
    events: Sequence[Entry],
    at: float,
) -> Row | None:
    """One write of one row and, only if it wrote one, its audit ``events``: in one statement on
    PostgreSQL (``audited``: the write with its events' CTE, ``WRITTEN_AUDITED`` in
    :mod:`bot.store.sql.audit_log`), in one transaction on SQLite (``plain``, then each event).
    The row written, or None; raises when the events were not written, and the write with them."""
    if db.dialect == "postgres":
        return db.fetch_one(audited, {**params, "events": entries_json(events, at)})
    with db.transaction() as tx:
        row = tx.fetch_one(plain, params)
        for entry in events if row else ():
            # Under the run of the row written, when it says (as WRITTEN_AUDITED's are).
            tx.execute(q.INSERT_AUDIT, {**entry.params(at), **_run_of(row)})
    return row


def _run_of(row: Row | None) -> dict[str, Any]:
    return {"thread_id": row["thread_id"]} if row and row.get("thread_id") else {}


class Audit:
    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock

    def record(
        self, event: str, thread_id: str, actor: str, approval_id: str | None = None, **detail: Any
    ) -> None:
        """Append one event. An audit write that fails is logged, never raised: the decision it
        records has already happened, and must not be undone or repeated because of it."""
        try:
            entry = Entry(event, thread_id, actor, approval_id, detail)
            self.db.execute(q.INSERT_AUDIT, entry.params(self.clock()))
        except Exception:
            logger.exception("could not record the audit event %s of run %s", event, thread_id)

    def record_each(self, event: str, actor: str, approvals: Sequence[tuple[str, str]]) -> None:
        """The same event for many requests (``(thread_id, approval_id)`` pairs), written
        together: a tick's reminders are one round trip, not one each."""
        if not approvals:
            return
        params = {
            "at": self.clock(),
            "event": event,
            "actor": actor,
            "pairs": json.dumps([list(pair) for pair in approvals]),
        }
        try:
            self.db.execute(q.INSERT_AUDIT_EACH[self.db.dialect], params)
        except Exception:
            logger.exception("could not record %d audit events %s", len(approvals), event)

    def for_run(self, thread_id: str) -> list[Event]:
        rows = self.db.fetch_all(q.AUDIT_FOR_RUN, {"thread_id": thread_id})
        return [Event.from_row(r) for r in rows]

    def since(self, after: float) -> list[Event]:
        return [Event.from_row(r) for r in self.db.fetch_all(q.AUDIT_SINCE, {"after": after})]


def _fields(event: Event) -> dict[str, Any]:
    """One event as :data:`FIELDS` (``detail`` still an object)."""
    return {
        "at": event.at,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(event.at)),
        "run": event.thread_id,
        "request": event.approval_id or "",
        "event": event.event,
        "actor": event.actor,
        "detail": event.detail,
    }


def to_csv(events: Iterable[Event]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for event in events:
        row = _fields(event)
        row["detail"] = json.dumps(event.detail, sort_keys=True, ensure_ascii=False)
        writer.writerow(row)
    return out.getvalue()


def to_json(events: Iterable[Event]) -> str:
    """One JSON object per line (JSON Lines), so an export of any size streams."""
    return "".join(json.dumps(_fields(e), ensure_ascii=False) + "\n" for e in events)
