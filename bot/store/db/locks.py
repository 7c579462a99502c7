"""Per-key locks that never wait without a limit.

A run's lock is held while its graph steps; a step that hangs (a peer that trickles a byte every
few seconds) once held it for as long as the peer liked, and everything that then asked for the
lock -- the scheduler's tick among them -- waited with it. So every wait here has a limit:

- :meth:`Locks.hold` waits at most ``wait`` seconds and then raises :class:`LockBusy`; whoever
  asked leaves the work due (it is all recorded) and comes back later;
- ``wait=0`` only tries (the tick's recovery sweep: what is busy is skipped, never waited for);
- one thread that already holds a key holds it again at once (a run's card posted while its
  decision is applied), instead of waiting on itself;
- on PostgreSQL the lock is a session-level advisory lock waited for under ``lock_timeout``; if
  giving it back fails, the session is closed, so the server drops the lock with it.

Errors: :class:`LockBusy` (a ``TimeoutError``), nothing else of this module's own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

WAIT = 30.0  # seconds a caller waits for a key by default (PostgreSQL's lock_timeout, too)
STATEMENT_TIMEOUT = 60.0  # seconds any one PostgreSQL statement may run

LOCK_SQL = "SELECT pg_advisory_lock(hashtextextended(%(key)s, 0))"
TRY_SQL = "SELECT pg_try_advisory_lock(hashtextextended(%(key)s, 0)) AS got"
UNLOCK_SQL = "SELECT pg_advisory_unlock(hashtextextended(%(key)s, 0))"
SET_LOCK_TIMEOUT = "SELECT set_config('lock_timeout', %(value)s, false)"


class LockBusy(TimeoutError):
    """Another worker or process holds the key past the wait: nothing was done; try later."""

    def __init__(self, key: str, wait: float) -> None:
        super().__init__(f"{key} is busy (waited {wait:g} s)")
        self.key = key
        self.wait = wait


# (key, wait) -> a function that gives the key back; raises LockBusy when the wait runs out.
Acquire = Callable[[str, float], Callable[[], None]]


class Locks:
    """Re-entrant per thread around a backend's ``acquire``."""

    def __init__(self, acquire: Acquire) -> None:
        self._acquire = acquire
        self._held = threading.local()

    def _counts(self) -> dict[str, int]:
        counts = getattr(self._held, "counts", None)
        if counts is None:
            counts = self._held.counts = {}
        return counts

    def held(self, key: str) -> bool:
        """Whether this thread holds ``key``."""
        return self._counts().get(key, 0) > 0

    @contextmanager
    def hold(self, key: str, wait: float = WAIT) -> Iterator[None]:
        counts = self._counts()
        if counts.get(key, 0):
            counts[key] += 1
            try:
                yield
            finally:
                counts[key] -= 1
            return
        release = self._acquire(key, max(0.0, wait))
        counts[key] = 1
        try:
            yield
        finally:
            del counts[key]
            release()


def memory_acquire() -> Acquire:
    """In-process locks (the embedded database serves one bot process), one per key in use."""
    locks: dict[str, tuple[threading.Lock, int]] = {}
    guard = threading.Lock()

    def forget(key: str) -> None:
        with guard:
            lock, users = locks[key]
            if users == 1:
                del locks[key]  # nobody holds or waits for it: no key is kept forever
            else:
                locks[key] = (lock, users - 1)

    def acquire(key: str, wait: float) -> Callable[[], None]:
        with guard:
            lock, users = locks.get(key) or (threading.Lock(), 0)
            locks[key] = (lock, users + 1)
        got = lock.acquire(timeout=wait) if wait > 0 else lock.acquire(blocking=False)
        if not got:
            forget(key)
            raise LockBusy(key, wait)

        def release() -> None:
            lock.release()
            forget(key)

        return release

    return acquire
