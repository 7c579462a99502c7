"""Background work after the ack: a bounded pool that logs what fails instead of losing it."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

logger = logging.getLogger(__name__)


class Worker:
    def __init__(self, max_workers: int = 8, before: Callable[[], None] | None = None) -> None:
        """``before``: called in the worker thread before each task starts (``AckFirst``)."""
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="work")
        self._before = before
        self._lock = threading.Lock()
        self._open: set[Future[Any]] = set()
        self._closed = False

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        with self._lock:
            if self._closed:
                # Shutting down: the work is recorded durably (inbox, run rows) and the next
                # process's recovery sweep does it.
                skipped: Future[Any] = Future()
                skipped.cancel()
                return skipped
            future = self._pool.submit(self._run, fn, *args)
            self._open.add(future)
        future.add_done_callback(self._done)
        return future

    def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._before is not None:
            self._before()
        return fn(*args)

    def _done(self, future: Future[Any]) -> None:
        with self._lock:
            self._open.discard(future)
        _log_failure(future)

    def drain(self, grace: float) -> int:
        """Stop taking work, give what is queued or running ``grace`` seconds to finish, then
        drop the rest (it is all recorded; the next process picks it up). Returns how many
        were dropped."""
        with self._lock:
            self._closed = True
            pending = set(self._open)
        _, left = wait(pending, timeout=grace)
        for future in left:
            future.cancel()  # queued ones; running ones end with the process
        self._pool.shutdown(wait=False, cancel_futures=True)
        return sum(1 for f in left if not f.cancelled())

    def shutdown(self, wait: bool = True) -> None:
        self._pool.shutdown(wait=wait, cancel_futures=not wait)


class InlineWorker(Worker):
    """Runs work at once in the caller's thread; for unit tests."""

    def __init__(self) -> None:
        pass

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn(*args))
        except Exception as exc:
            logger.exception("background work failed")
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True) -> None:
        pass

    def drain(self, grace: float) -> int:
        return 0


def _log_failure(future: Future[Any]) -> None:
    if not future.cancelled() and future.exception() is not None:
        logger.error("background work failed", exc_info=future.exception())
