"""Leases on the runs this process is stepping, kept alive by a heartbeat.

The stale-run sweep used to take a run as stuck when its last change was older than
``RETRY_AFTER``, so a graph step longer than that (a slow model, an effect waiting out its
deadline) looked exactly like a run whose process died. Now a worker stepping a run holds a
lease on it (``runs.lease_until``), and one heartbeat thread renews every lease this process
holds while the steps go on. A process that dies stops renewing, the lease runs out within
``term`` seconds, and only then does the sweep take the run over.

A step is leased from the heartbeat's first beat after it started (at most ``term``/3 later),
not by a write of its own: most steps end sooner and cost no statement at all. Until then the
run's lock already keeps every other worker and process off it (the sweep only tries it); the
lease is what tells a long step from a run nobody moves.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from bot.store.repository import Store

logger = logging.getLogger(__name__)

TERM = 30.0  # seconds a lease lasts unless renewed


class Leases:
    def __init__(self, store: Store, term: float = TERM) -> None:
        self.store = store
        self.term = term
        self.every = term / 3  # two beats may be missed before the lease runs out
        self._held: Counter[str] = Counter()
        self._leased: set[str] = set()  # held runs whose lease was written
        self._guard = threading.Lock()
        self._wake = threading.Event()
        self._beating: threading.Thread | None = None

    @contextmanager
    def holding(self, thread_id: str) -> Iterator[None]:
        """Lease ``thread_id`` while the block runs (re-entrant: a nested hold is free)."""
        with self._guard:
            self._held[thread_id] += 1
            self._start()
        try:
            yield
        finally:
            with self._guard:
                self._held[thread_id] -= 1
                if self._held[thread_id] == 0:
                    del self._held[thread_id]
                    if thread_id in self._leased:
                        self._leased.discard(thread_id)
                        self._give_up(thread_id)

    def _give_up(self, thread_id: str) -> None:
        try:
            self.store.lease([thread_id], None)
        except Exception:  # it runs out by itself
            logger.exception("could not give up the lease on run %s", thread_id)

    def held(self) -> list[str]:
        with self._guard:
            return list(self._held)

    def beat(self) -> None:
        """Lease, or renew, every run held now (one statement). Under the guard, so a step
        that ends meanwhile gives its lease up after this, never before."""
        with self._guard:
            held = list(self._held)
            if held:
                self.store.lease(held, self.store.clock() + self.term)
                self._leased.update(held)

    def stop(self) -> None:
        self._wake.set()

    def _start(self) -> None:
        if self._beating is None:
            self._beating = threading.Thread(target=self._beat, name="lease-heartbeat", daemon=True)
            self._beating.start()

    def _beat(self) -> None:
        while not self._wake.wait(self.every):
            try:
                self.beat()
            except Exception:  # the database may be away: the next beat tries again
                logger.exception("could not renew the leases of the runs under way")
