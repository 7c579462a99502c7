"""A cap on the outbound effects (``call_webhook``, ``check_url``) under way in this process.

Each such call may hold its worker until its deadline (``WEBHOOK_DEADLINE``): ten calls to a
server that trickles a byte every few seconds once took every worker of the pool, and a new
``/agent`` run got no card until they ended. With ``WEBHOOK_SLOTS`` slots (fewer than the pool's
workers), slow targets can hold at most that many workers. An effect that finds no slot free is
not sent and not counted as a try: it *waits its turn* (:class:`graphs.outbound.NoSlot`), its
worker is given back, and the recovery sweep runs it again later.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from graphs.outbound import NoSlot

SLOTS = 4  # the worker pool has 8


class EffectSlots:
    def __init__(self, limit: int = SLOTS) -> None:
        self.limit = limit
        self._free = threading.BoundedSemaphore(limit)
        self._guard = threading.Lock()
        self._taken = 0

    @contextmanager
    def take(self) -> Iterator[None]:
        """One slot for the block; :class:`NoSlot` at once when every slot is taken."""
        if not self._free.acquire(blocking=False):
            raise NoSlot(f"waiting its turn: {self.limit} outbound calls are already under way")
        with self._guard:
            self._taken += 1
        try:
            yield
        finally:
            with self._guard:
                self._taken -= 1
            self._free.release()

    @property
    def taken(self) -> int:
        with self._guard:
            return self._taken
