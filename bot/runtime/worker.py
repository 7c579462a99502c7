"""Background work after the ack: a bounded pool that logs what fails instead of losing it.

Acks first: while Slack requests are being answered, background work waits to start.

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

import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from typing import Any

from bot.store.db.base import answering

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


class ListenerPool(ThreadPoolExecutor):
    """The threads Bolt runs listeners in, made to hand an answer back as soon as it is ready.

    Bolt (``process_before_response=False``) submits a listener here and then looks every 10 ms
    for its ack, so each answer to Slack took 10 ms more than its work. Around one dispatch,
    :meth:`answer_when` names an event the listener's ack sets; the dispatch thread's next
    ``submit`` (the listener) waits for it, or for the listener's end, up to ``limit`` seconds
    (Bolt's own wait for an ack is 3 s), so Bolt finds the ack at its first look.

    A listener goes on after its ack (a note to the person, a form to open), and a Slack that
    holds those calls (each up to ``SLACK_TIMEOUT``) can keep every thread of the pool busy:
    a request arriving then would wait for one, and Bolt answers it 404 after 3 s. So a
    listener that finds every thread busy runs on a thread of its own instead, up to
    ``overflow`` of them at once (past that it waits its turn, as before)."""

    def __init__(
        self, max_workers: int, thread_name_prefix: str, limit: float = 3.0, overflow: int = 224
    ) -> None:
        super().__init__(max_workers=max_workers, thread_name_prefix=thread_name_prefix)
        self.limit = limit
        self._dispatching = threading.local()
        self._size, self._prefix = max_workers, thread_name_prefix
        self._busy = 0  # listeners handed to the pool and not yet ended
        self._counting = threading.Lock()
        self._overflow = threading.BoundedSemaphore(overflow)

    @contextmanager
    def answer_when(self, acked: threading.Event, arrived: float | None = None) -> Iterator[None]:
        """``arrived``: when the request came (monotonic), if it waited for a thread since."""
        self._dispatching.acked = acked
        self._dispatching.arrived = arrived
        try:
            yield
        finally:
            self._dispatching.acked = self._dispatching.arrived = None

    def dispatch(self, job: Callable[[], None], arrived: float | None = None) -> Future[Any]:
        """Runs ``job``, a Bolt dispatch that gives its answer at the listener's ack (not when
        it returns), on a thread of the pool, and the listener Bolt submits from it right
        there: the request goes from the event loop to one thread, not through one thread to
        another. What the listener does after its ack holds that thread, not the answer.
        ``arrived``: when the request came (monotonic); the writes before the ack share one
        deadline counted from then (bot.store.db.base.answering)."""
        return self._start(self._inline, arrived, job)

    def _inline(self, arrived: float | None, job: Callable[[], None]) -> None:
        self._dispatching.inline = True
        try:
            with answering(since=arrived):
                job()
        finally:
            self._dispatching.inline = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if getattr(self._dispatching, "inline", False):
            self._dispatching.inline = False  # the listener; anything submitted after it is not
            return _ran(fn, *args, **kwargs)
        acked: threading.Event | None = getattr(self._dispatching, "acked", None)
        if acked is None:
            return super().submit(fn, *args, **kwargs)
        # The listener of a request being answered: its writes before the ack share one
        # deadline, counted from when the request arrived (bot.store.db.base.answering): one
        # that waited for a thread (a burst on a frozen database) has only what is left.
        arrived: float | None = getattr(self._dispatching, "arrived", None)
        future = self._start(_answering, arrived, fn, *args, **kwargs)
        self._dispatching.acked = None  # the listener; anything submitted after it is not
        future.add_done_callback(lambda _: acked.set())
        acked.wait(self.limit)
        return future

    def _start(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        """On a thread of the pool when one is free (or may still be started), else on a thread
        of its own while the overflow allows."""
        with self._counting:
            free = self._busy < self._size
            if free:
                self._busy += 1
        if free:
            return super().submit(self._counted, fn, *args, **kwargs)
        if not self._overflow.acquire(blocking=False):
            return super().submit(fn, *args, **kwargs)  # waits for a thread, as Bolt's would
        future: Future[Any] = Future()

        def run() -> None:
            try:
                if future.set_running_or_notify_cancel():
                    try:
                        future.set_result(fn(*args, **kwargs))
                    except BaseException as exc:
                        future.set_exception(exc)
            finally:
                self._overflow.release()

        name = f"{self._prefix}-overflow"
        threading.Thread(target=run, name=name, daemon=True).start()
        return future

    def _counted(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        finally:
            with self._counting:
                self._busy -= 1


def _ran(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
    """``fn`` run here and now, as a future that has its outcome."""
    future: Future[Any] = Future()
    future.set_running_or_notify_cancel()
    try:
        future.set_result(fn(*args, **kwargs))
    except BaseException as exc:
        future.set_exception(exc)
    return future


def _answering(arrived: float | None, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    with answering(since=arrived):
        return fn(*args, **kwargs)
