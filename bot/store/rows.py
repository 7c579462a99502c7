"""What every table group's rows share: the database they are in and the clock that stamps them."""

from __future__ import annotations

from collections.abc import Callable

from bot.store.db.base import Database
from bot.store.sql import rows as q

Clock = Callable[[], float]


class Rows:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    def with_ids(self, sql: str, **parts: str) -> str:
        """``sql`` with its ``{ids}`` list of ids (a JSON array parameter) in this dialect."""
        return sql.format(ids=q.ID_LIST[self.db.dialect], **parts)
