"""Remembered approvals as rows: created with the approval that made them (see
:meth:`bot.store.repository.Store.claim_remembering`), found for a new request, used, listed and
revoked. The rules themselves (what a rule covers, who may revoke it) are
:mod:`bot.core.rules`'."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.audit_log import Entry, write_audited
from bot.store.db.base import Database
from bot.store.sql import rules as q


@dataclass(frozen=True)
class Rule:
    """``match``: the remembered arguments' values as canonical JSON (``{}``: any values)."""

    id: int
    graph: str
    action: str  # the tool or action it covers; "" for a graph's plain pause
    step: str  # for a plain pause: the node that paused ("": made before steps were kept)
    requester: str
    channel: str  # where the runs it covers are started
    match: str
    created_by: str
    created_at: float
    expires_at: float
    approval_id: str  # the request whose card made it
    thread_id: str
    revoked_at: float | None = None
    revoked_by: str | None = None
    uses: int = 0
    last_used_at: float | None = None

    @property
    def arguments(self) -> dict[str, Any]:
        values = json.loads(self.match)
        return values if isinstance(values, dict) else {}

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Rule:
        values = {k: row[k] for k in cls.__dataclass_fields__}
        return cls(**{**values, "id": int(row["id"]), "uses": int(row["uses"] or 0)})


class Rules:
    def __init__(self, db: Database) -> None:
        self.db = db

    def get(self, rule_id: int) -> Rule | None:
        row = self.db.fetch_one(q.GET_RULE, {"id": rule_id})
        return Rule.from_row(row) if row else None

    def matching(self, scope: Mapping[str, str], now: float) -> Rule | None:
        """The live rule (unexpired, not revoked) covering ``scope``, if there is one."""
        row = self.db.fetch_one(q.MATCHING_RULE, {**scope, "now": now})
        return Rule.from_row(row) if row else None

    def live(self, now: float, limit: int = 500) -> list[Rule]:
        """Rules still in force, oldest first."""
        rows = self.db.fetch_all(q.LIVE_RULES, {"now": now, "limit": limit})
        return [Rule.from_row(r) for r in rows]

    def revoke(
        self, rule_id: int, by: str, now: float, events: Sequence[Entry] = ()
    ) -> Rule | None:
        """Revoke a live rule, with its audit ``events`` in the same statement (PostgreSQL) or
        transaction (SQLite): raises when they are not written. None when it was not live
        (revoked, expired or unknown; no event written)."""
        params = {"id": rule_id, "by": by, "now": now}
        row = write_audited(self.db, q.REVOKE_RULE_AUDITED, q.REVOKE_RULE, params, events, now)
        return Rule.from_row(row) if row else None


def insert_params(
    scope: Mapping[str, str],
    created_by: str,
    now: float,
    expires_at: float,
    approval_id: str,
    thread_id: str,
) -> dict[str, Any]:
    return {
        **scope,
        "created_by": created_by,
        "now": now,
        "expires_at": expires_at,
        "approval_id": approval_id,
        "thread_id": thread_id,
    }
