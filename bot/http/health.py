"""``GET /healthz``: 200 only when the database answers and the scheduler ticked recently;
503 with the reason otherwise, so a platform restarts or stops routing to a sick process.

Anyone can call it as often as they like, so a request never queries the database: a background
thread probes it every ``refresh_every`` seconds (:meth:`Health.refresh`) and the request reads
what the last probe found (:meth:`Health.report`). A probe that stops coming back (a database
that hangs rather than refuses, or a dead refresher) leaves the snapshot stale, and a stale
snapshot is itself a 503.

Anyone can call it, so the answer names what is wrong, never how: a database error's text holds
its host, port and user. The detail goes to the log instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bot.store.db import Database

logger = logging.getLogger(__name__)

PROBE = "SELECT 1 AS ok"


@dataclass
class Health:
    db: Database
    tick_every: float
    clock: Callable[[], float] = time.time
    started: float = field(default_factory=time.time)
    last_tick: float | None = None
    database_down: bool = False  # so the traceback is logged once per outage, not every probe
    refresh_every: float = 2.0
    refreshed: float | None = None  # when the last probe came back; None before the first

    def ticked(self) -> None:
        self.last_tick = self.clock()

    @property
    def tick_deadline(self) -> float:
        """How long without a tick is too long: three ticks, and never under a minute."""
        return max(3 * self.tick_every, 60.0)

    @property
    def stale_after(self) -> float:
        """How old the last probe may be: five probes, and never under five seconds."""
        return max(5 * self.refresh_every, 5.0)

    def refresh(self) -> None:
        """Probe the database (in the background, never for a request)."""
        try:
            self.db.fetch_one_quick(PROBE)
            self.database_down = False
        except Exception as exc:
            if self.database_down:
                detail = (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]
                logger.warning("health check: the database is still not answering: %s", detail)
            else:
                logger.exception("health check: the database is not answering")
            self.database_down = True
        self.refreshed = self.clock()

    def report(self) -> tuple[bool, dict[str, Any]]:
        """The answer from the last probe and the last tick: no I/O, cheap enough for a loop."""
        report: dict[str, Any] = {}
        problems: list[str] = []
        now = self.clock()
        if self.refreshed is None:
            report["database"] = "not checked yet"
            problems.append("the database has not been checked yet")
        elif self.database_down:
            report["database"] = "not answering"
            problems.append("the database is not answering")
        else:
            report["database"] = "ok"
        probed = now - (self.refreshed if self.refreshed is not None else self.started)
        if probed > self.stale_after:
            report["checked_seconds_ago"] = round(probed, 1)
            problems.append(f"the database has not been checked for {probed:.0f}s")
        since = now - (self.last_tick if self.last_tick is not None else self.started)
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

    def check(self) -> tuple[bool, dict[str, Any]]:
        """Probe, then report: what a request used to do, for tests and one-off checks."""
        self.refresh()
        return self.report()
