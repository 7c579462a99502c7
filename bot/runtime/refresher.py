"""The background thread that keeps ``/healthz`` and ``/metrics`` current.

Both are unauthenticated: a query per request would let anyone load the database and take
threads from Slack's dispatch. Instead one daemon thread runs the reads every few seconds and
the handlers only read what it left. If a read hangs, the thread hangs with it and its snapshot
goes stale, which ``/healthz`` reports for its own probe (bot/http/health.py) -- so nothing here
needs
a watchdog. The health probe and the metrics' counts get a thread each, so a slow count (a
locked table, a pool wait of its own) never holds back the health check.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

logger = logging.getLogger(__name__)


class Refresher:
    def __init__(self, jobs: Sequence[Callable[[], None]], every: float, name: str) -> None:
        self.jobs = list(jobs)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"refresh-{name}", daemon=True)

    def start(self) -> Refresher:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:  # the first round at once, so a new process turns healthy without a wait
            for job in self.jobs:
                try:
                    job()
                except Exception:  # one failing read must not stop the others, nor the thread
                    logger.exception("background refresh failed")
            if self._stop.wait(self.every):
                return
