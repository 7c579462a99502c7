"""The ``inbox`` table: clicks recorded before their ack, taken by a worker under a lease."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.domain.models import (
    Approval,
    Decision,
    InboxEntry,
    Job,
    new_id,
)
from bot.store.db.base import Row, Session
from bot.store.rows import Rows
from bot.store.sql import clicks as q
from bot.store.sql.jobs import OVERDUE_EXPIRY
from bot.store.sql.requests import GET_APPROVAL


class ClickRows(Rows):
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

    def receive_click(
        self, approval_id: str, decision: Decision, channel: str | None, lease: float
    ) -> ReceivedClick:
        """:meth:`add_inbox` and :meth:`take_click` in one: the click recorded (before its ack)
        already taken by this process, under a lease from the start, so no other taker starts
        on it first. On PostgreSQL one statement, which reads the request and its overdue
        expiry too; their rows are parsed later, by :meth:`received_click` in the worker.

        Raises when it is not recorded, or :class:`~bot.store.db.base.OutcomeUnknown` when its
        connection was lost after it was sent and it could not be withdrawn (it may be carried
        out, by the recovery sweep once the lease ran out)."""
        now = self.clock()
        entry = InboxEntry(new_id(), approval_id, decision, channel, now, 1, now + lease)
        params = {
            "id": entry.id,
            "approval_id": approval_id,
            "decision": decision.to_json(),
            "channel": channel,
            "now": now,
            "lease": entry.locked_until,
        }
        if self.db.dialect == "postgres":
            row = self.db.fetch_one_quick(q.RECEIVE_CLICK, params, undo=q.WITHDRAW_CLICK)
            return ReceivedClick(entry, row)
        self.db.execute_quick(q.INSERT_TAKEN_INBOX, params)
        return ReceivedClick(entry, None)

    def receive_retry(
        self, thread_id: str, decision: Decision, channel: str | None, lease: float
    ) -> ReceivedClick:
        """A Retry click on run ``thread_id``, recorded (before its ack) and taken as
        :meth:`receive_click` records and takes a decision's, in one statement; it raises as
        that does."""
        now = self.clock()
        entry = InboxEntry(new_id(), "", decision, channel, now, 1, now + lease, thread_id)
        params = {
            "id": entry.id,
            "approval_id": "",
            "thread_id": thread_id,
            "decision": decision.to_json(),
            "channel": channel,
            "now": now,
            "lease": entry.locked_until,
        }
        self.db.execute_quick(q.INSERT_TAKEN_RETRY, params, undo=q.WITHDRAW_CLICK)
        return ReceivedClick(entry, None)

    def received_click(self, received: ReceivedClick) -> TakenClick:
        """The click :meth:`receive_click` took, with its request and expiry (as read then, on
        PostgreSQL; read now, on SQLite). A Retry has neither."""
        if received.row is not None:
            return _taken(received.row["entry"], received.row["approval"], received.row["overdue"])
        entry = received.entry
        if entry.thread_id is not None:
            return TakenClick(entry, None, None)
        return _taken(entry, *self._its_request(self.db, entry.approval_id, entry.received_at))

    def take_click(
        self, entry_id: str, lease: float, ours: float | None = None
    ) -> TakenClick | None:
        """Take a recorded click under a lease, with the request it names and its expiry if
        that fell due by the time the click arrived, in one round trip. ``ours``: the lease
        this process holds on it already, renewed."""
        now = self.clock()
        params = {"id": entry_id, "now": now, "lease": now + lease, "ours": ours}
        if self.db.dialect == "postgres":
            row = self.db.fetch_one(q.TAKE_CLICK, params)
            if row is None:
                return None
            return _taken(row["entry"], row["approval"], row["overdue"])
        with self.db.transaction() as tx:
            entry = tx.fetch_one(q.TAKE_INBOX, params)
            if entry is None:
                return None
            return _taken(entry, *self._its_request(tx, entry["approval_id"], entry["received_at"]))

    @staticmethod
    def _its_request(
        db: Session, approval_id: str, received_at: float
    ) -> tuple[Row | None, Row | None]:
        approval = db.fetch_one(GET_APPROVAL, {"id": approval_id})
        overdue = db.fetch_one(OVERDUE_EXPIRY, {"approval_id": approval_id, "now": received_at})
        return approval, overdue

    def release_inbox(self, entry_id: str, lease: float) -> None:
        self.db.execute(q.RELEASE_INBOX, {"id": entry_id, "lease": lease})

    def finish_inbox(self, entry_id: str) -> None:
        self.db.execute(q.FINISH_INBOX, {"id": entry_id, "now": self.clock()})

    def click_closed(self, entry_id: str) -> bool:
        """Whether a recorded click was worked through (by whichever process took it)."""
        return self.db.fetch_one(q.CLICK_CLOSED, {"id": entry_id}) is not None

    def earlier_clicks(self, approval_id: str, before: float) -> list[str]:
        """Recorded clicks on a request, still unprocessed, that arrived before ``before``."""
        params = {"approval_id": approval_id, "before": before}
        return [row["id"] for row in self.db.fetch_all(q.EARLIER_CLICKS, params)]

    def open_inbox(self, older_than: float, limit: int = 100) -> list[str]:
        now = self.clock()
        params = {"before": now - older_than, "now": now, "limit": limit}
        return [row["id"] for row in self.db.fetch_all(q.OPEN_INBOX, params)]


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
class ReceivedClick:
    """A click :meth:`ClickRows.receive_click` recorded and took: its entry (under this
    process's lease) and, on PostgreSQL, the row read with it (the request and its expiry)."""

    entry: InboxEntry
    row: Row | None


def _taken(
    entry: InboxEntry | Row | str, approval: Row | str | None, overdue: Row | str | None
) -> TakenClick:
    """A taken click from its rows: dicts, or JSON text (PostgreSQL's, parsed only now)."""
    if not isinstance(entry, InboxEntry):
        entry = InboxEntry.from_row(_parsed(entry) or {})
    approval_row, overdue_row = _parsed(approval), _parsed(overdue)
    return TakenClick(
        entry,
        Approval.from_row(approval_row) if approval_row else None,
        Job.from_row(overdue_row) if overdue_row else None,
    )


def _parsed(value: Row | str | None) -> Row | None:
    return json.loads(value) if isinstance(value, str) else value
