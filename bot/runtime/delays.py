"""Work put off for a few seconds, on one thread for the whole process.

A click whose attempt failed is tried again a few seconds later (bot.core.click_inbox); a timer
thread for each would be one more thread per failure, and a storm of failures a storm of
threads. Here every delay waits in one queue, ordered by when it is due, served by one thread
started on first use. What runs there should be quick (hand the real work to the worker pool):
the next delay waits for it.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger(__name__)


class Delays:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: list[tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()  # equal times run in the order they were put off
        self._changed = threading.Condition()
        self._thread: threading.Thread | None = None

    def __call__(self, seconds: float, what: Callable[[], None]) -> None:
        """Run ``what`` ``seconds`` from now (a daemon thread: what is still waiting at exit
        is dropped, so it must be recorded elsewhere, as a click's lease is)."""
        with self._changed:
            heapq.heappush(self._due, (self._clock() + seconds, next(self._order), what))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="delays", daemon=True)
                self._thread.start()
            self._changed.notify()

    def waiting(self) -> int:
        with self._changed:
            return len(self._due)

    def _serve(self) -> None:
        while True:
            with self._changed:
                while not self._due or (wait := self._due[0][0] - self._clock()) > 0:
                    self._changed.wait(wait if self._due else None)
                _, _, what = heapq.heappop(self._due)
            try:
                what()
            except Exception:
                logger.exception("work put off could not be started")


DELAYS = Delays()  # the process's one queue of delays
