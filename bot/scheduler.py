"""The periodic tick: an APScheduler interval job in each bot process.

APScheduler keeps no job store here; what is due lives in the database and is claimed there,
so any number of processes can tick at once and the work is still done once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from apscheduler.schedulers.background import BackgroundScheduler

logger = logging.getLogger(__name__)


def start_ticking(tick: Callable[[], None], every: float) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(daemon=True)
    scheduler.add_job(
        _safely(tick), "interval", seconds=every, max_instances=1, coalesce=True, id="tick"
    )
    scheduler.start()
    return scheduler


def _safely(tick: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        try:
            tick()
        except Exception:
            logger.exception("scheduler tick failed")

    return run
