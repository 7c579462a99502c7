"""The recovery sweep's hands: what it finds is done in the worker pool, never in the tick.

The tick used to finish each half-done item itself, waiting for the run's lock; a run whose step
hung held the lock, and with it the tick (no reminders, no expiries, ``/healthz`` stale). Now
each item is handed to the pool and only *tried*: a run whose lock is held (its step is under
way, here or in another process) is skipped and found again by a later tick. An item already
handed over and not finished is not handed over again, so a pool that is busy for a while does
not fill with copies of the same work.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from bot.runtime.worker import Worker
from bot.store.db.base import Database
from bot.store.db.locks import LockBusy

logger = logging.getLogger(__name__)


class Sweeper:
    def __init__(self, worker: Worker, db: Database) -> None:
        self.worker = worker
        self.db = db
        self._handed: set[str] = set()
        self._guard = threading.Lock()

    def hand(self, item: str, lock: str | None, finish: Callable[[], object]) -> bool:
        """Have ``finish`` run in the pool, under ``lock`` (a run's key) if it is free then;
        False when ``item`` is still waiting or running from an earlier sweep."""
        with self._guard:
            if item in self._handed:
                return False
            self._handed.add(item)
        try:
            self.worker.submit(self._run, item, lock, finish)
        except BaseException:
            self._done(item)
            raise
        return True

    def busy(self) -> list[str]:
        """Items handed over and not finished yet."""
        with self._guard:
            return sorted(self._handed)

    def _run(self, item: str, lock: str | None, finish: Callable[[], object]) -> None:
        try:
            held: AbstractContextManager[None] = (
                self.db.try_lock(lock) if lock is not None else nullcontext()
            )
            with held:
                finish()
        except LockBusy:
            logger.info("recovery: %s is busy; it stays due and comes back next tick", item)
        except Exception:
            # One item that keeps failing must not hold up every other one (nor the jobs).
            logger.exception("recovery: could not finish %s", item)
        finally:
            self._done(item)

    def _done(self, item: str) -> None:
        with self._guard:
            self._handed.discard(item)
