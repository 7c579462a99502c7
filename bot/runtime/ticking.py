"""The clock that drives the scheduler: APScheduler calls one function every few seconds.

APScheduler 3 must never share a job store between processes, so it keeps none: what is due
lives in the ``jobs`` table and is claimed there (``bot.slack.scheduler``)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

logger = logging.getLogger(__name__)


def start_ticking(tick: Callable[[], object], every: float) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(
        _safely(tick), "interval", seconds=every, max_instances=1, coalesce=True, id="tick"
    )
    scheduler.start()
    return scheduler


def _safely(tick: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            tick()
        except Exception:
            logger.exception("scheduler tick failed")

    return run
