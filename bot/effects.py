"""At-most-once side effects, keyed by an idempotency key stored beside the approvals.

Graph nodes re-run from their start when a run is resumed or recovered, so every side effect
(posting, mailing, calling a webhook) goes through :meth:`Ledger.once`. A key that finished
returns its recorded result; a key that started but never finished (the process died mid-call)
is not retried, because a duplicate email is worse than a visible "outcome unknown".
"""

from __future__ import annotations

from collections.abc import Callable

from bot.db import Database
from bot.db import queries as q
from bot.store import Clock

UNKNOWN = "outcome unknown: the bot stopped while this action was running; not retried"


class Ledger:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def once(self, key: str, effect: Callable[[], str]) -> str:
        started = self.db.execute(q.BEGIN_EFFECT, {"key": key, "now": self.clock()})
        if not started:
            row = self.db.fetch_one(q.GET_EFFECT, {"key": key})
            if row and row["status"] != "started":
                return row["result"] or ""
            return UNKNOWN
        try:
            result = effect()
        except Exception as exc:
            result = f"Failed: {exc}"
            self._finish(key, "failed", result)
            return result
        self._finish(key, "done", result)
        return result

    def _finish(self, key: str, status: str, result: str) -> None:
        self.db.execute(
            q.FINISH_EFFECT, {"key": key, "status": status, "result": result, "now": self.clock()}
        )
