"""Acks first: while Slack requests are being answered, background work waits to start.

A burst of fifty clicks is fifty acks and fifty pieces of graph work on two cores and one
interpreter lock. Work started by the first clicks took the lock from the acks of the clicks
behind them, and the last acks of a burst came three times later than those of an app that only
acks. So a task about to start waits while other Slack requests are still being answered (more
than one: a lone click's own answer is all but sent when its work is submitted, and waiting for
it cost that click ~5 ms) -- but for ``patience`` seconds at most, so a steady stream of
requests delays work by that much and never starves it. 200 ms: answering a burst of fifty
takes about that long here, and with 50 ms the work of its first clicks still started in the
middle of it (p99 110-180 ms against 85-95 ms, measured with ``bench.ack_latency``). Work
already running is never paused; nothing here changes what is done, only when.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class AckFirst:
    def __init__(self, patience: float = 0.2) -> None:
        self.patience = patience
        self._answering = 0
        self._waiting = 0  # tasks held back right now
        self._quiet = threading.Condition()

    @property
    def waiting(self) -> int:
        """How many tasks are being held back right now, waiting for their turn."""
        with self._quiet:
            return self._waiting

    @contextmanager
    def answering(self) -> Iterator[None]:
        """Around the handling of one Slack request, up to its response."""
        with self._quiet:
            self._answering += 1
        try:
            yield
        finally:
            with self._quiet:
                self._answering -= 1
                if self._answering <= 1:
                    self._quiet.notify_all()

    def wait_turn(self) -> None:
        """Before a background task starts: until at most one request is being answered, or
        ``patience`` seconds."""
        deadline = time.monotonic() + self.patience
        with self._quiet:
            while self._answering > 1 and (left := deadline - time.monotonic()) > 0:
                self._waiting += 1
                try:
                    self._quiet.wait(left)
                finally:
                    self._waiting -= 1
