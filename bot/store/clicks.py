"""The ``inbox`` table: clicks recorded before their ack, taken by a worker under a lease."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import (
    Approval,
    Decision,
    InboxEntry,
    Job,
    new_id,
)
from bot.store.db import queries as q
from bot.store.rows import Rows


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


@dataclass
class TakenClick:
    """A click taken from the inbox, with the request it names (None: no such request) and that
    request's expiry if it fell due before the click arrived. ``closed``: set once the claim
    that won closed the click (nothing more to write for it)."""

    entry: InboxEntry
    approval: Approval | None
    overdue: Job | None
    closed: bool = False
