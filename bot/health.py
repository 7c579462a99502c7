"""``GET /healthz``: 200 only when the database answers and the scheduler ticked recently;
503 with the reason otherwise, so a platform restarts or stops routing to a sick process."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.db import Database

PROBE = "SELECT 1 AS ok"


@dataclass
class Health:
    db: Database
    tick_every: float
    clock: Callable[[], float] = time.time
    started: float = field(default_factory=time.time)
    last_tick: float | None = None

    def ticked(self) -> None:
        self.last_tick = self.clock()

    @property
    def tick_deadline(self) -> float:
        """How long without a tick is too long: three ticks, and never under a minute."""
        return max(3 * self.tick_every, 60.0)

    def check(self) -> tuple[bool, dict[str, Any]]:
        report: dict[str, Any] = {}
        problems: list[str] = []
        try:
            self.db.fetch_one_quick(PROBE)
            report["database"] = "ok"
        except Exception as exc:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0][:200]
            report["database"] = f"not answering: {reason}"
            problems.append("the database is not answering")
        since = self.clock() - (self.last_tick if self.last_tick is not None else self.started)
        report["scheduler"] = {"last_tick_seconds_ago": round(since, 1)}
        if since > self.tick_deadline:
            problems.append(
                f"the scheduler has not ticked for {since:.0f}s (it should every "
                f"{self.tick_every:g}s)"
            )
        report["ok"] = not problems
        if problems:
            report["reason"] = "; ".join(problems)
        return not problems, report
