"""Bench-only: per-request phase timestamps inside ``python -m bot`` (``bench.ack_phases``).

Loaded as ``sitecustomize`` when ``bench/phases`` is on the bot's PYTHONPATH and BENCH_PHASES
names a file; nothing in the product imports it. Each Slack request carrying an
``x-bench-id`` header gets a record of ``time.perf_counter()`` marks (CLOCK_MONOTONIC, which
the client's marks share), written to that file as a JSON line once its answer is back on
the event loop. Also the bench's experiments: BENCH_RECENT, BENCH_POOL_MIN, BENCH_SWITCH,
BENCH_DISPATCH_THREADS (see below).
"""

from __future__ import annotations

import json
import os
import threading
import time
from contextvars import ContextVar
from typing import Any

OUT = os.environ.get("BENCH_PHASES")
_current: ContextVar[dict[str, Any] | None] = ContextVar("bench_phase", default=None)


def mark(name: str) -> None:
    rec = _current.get()
    if rec is not None and name not in rec:
        rec[name] = time.perf_counter()


def _install() -> None:
    from bot.http import asgi
    from bot.runtime import worker
    from bot.store.db import postgres_deadlines, postgres_pool

    read_capped = asgi.read_capped

    async def read_capped_marked(request: Any, cap: int) -> bytes:
        bench_id = request.headers.get("x-bench-id")
        if bench_id is not None:
            rec = {"id": bench_id, "enter": time.perf_counter()}
            _current.set(rec)
        body = await read_capped(request, cap)
        mark("body")
        return body

    asgi.read_capped = read_capped_marked

    dispatch = asgi.dispatch

    def dispatch_marked(app: Any, request: Any, arrived: float | None = None) -> Any:
        mark("thread")  # the event loop handed the request to a thread
        rec = _current.get()
        if rec is not None:
            rec["active"] = threading.active_count()
        cpu = time.thread_time()
        try:
            return dispatch(app, request, arrived)
        finally:
            mark("dispatched")
            if rec is not None:
                rec["dispatch_cpu"] = (time.thread_time() - cpu) * 1000

    asgi.dispatch = dispatch_marked

    pool_dispatch = worker.ListenerPool.dispatch

    def pool_dispatch_marked(self: Any, job: Any, arrived: float | None = None) -> Any:
        # The bot over HTTP (bot.http.asgi.answered): the dispatch and its listener on one of
        # the pool's threads, called from the event loop, whose context has the record.
        rec = _current.get()
        if rec is None:
            return pool_dispatch(self, job, arrived)

        def job_marked() -> None:
            token = _current.set(rec)
            mark("thread")
            rec["active"] = threading.active_count()
            rec["cpu_from"] = time.thread_time()  # "dispatched" is marked at the ack (below)
            try:
                job()
            finally:
                _current.reset(token)

        return pool_dispatch(self, job_marked, arrived)

    worker.ListenerPool.dispatch = pool_dispatch_marked

    to_starlette = asgi.to_starlette_response

    def to_starlette_marked(response: Any) -> Any:
        mark("loop")  # back on the event loop
        rec = _current.get()
        if rec is not None:
            _write(rec)
        return to_starlette(response)

    asgi.to_starlette_response = to_starlette_marked

    said = asgi._SaysAcked.__call__

    def ack_marked(self: Any, *args: Any, **kwargs: Any) -> Any:
        mark("ack")
        rec = _current.get()
        if rec is not None and "cpu_from" in rec:  # in place: the answer leaves at the ack
            mark("dispatched")
            rec["dispatch_cpu"] = (time.thread_time() - rec.pop("cpu_from")) * 1000
        return said(self, *args, **kwargs)

    asgi._SaysAcked.__call__ = ack_marked

    submit = worker.ListenerPool.submit

    def submit_marked(self: Any, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        rec = _current.get()
        dispatching = getattr(self._dispatching, "acked", None) or getattr(
            self._dispatching, "inline", False
        )
        if rec is None or not dispatching:
            return submit(self, fn, *args, **kwargs)
        mark("submit")

        def carried(*a: Any, **k: Any) -> Any:
            _current.set(rec)
            mark("listener")
            cpu = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                rec["listener_cpu"] = (time.thread_time() - cpu) * 1000

        return submit(self, carried, *args, **kwargs)

    worker.ListenerPool.submit = submit_marked

    start = threading.Thread.start

    def start_marked(self: Any) -> None:
        # A thread started by the event loop (anyio's workers): how long the loop waited.
        began = time.perf_counter()
        start(self)
        _write({"id": "thread", "tid": self.native_id, "name": self.name})
        if threading.current_thread() is threading.main_thread():
            _write({"id": "thread-start", "start": began, "took": time.perf_counter() - began})

    threading.Thread.start = start_marked

    wait_turn = worker.AckFirst.wait_turn

    def wait_turn_marked(self: Any) -> None:
        # Background work: when it was let start (after AckFirst's wait), as a line of its own.
        wait_turn(self)
        _write({"id": "work", "start": time.perf_counter()})

    worker.AckFirst.wait_turn = wait_turn_marked

    limited = postgres_deadlines._limited

    def limited_marked(pool: Any, *args: Any, **kwargs: Any) -> Any:
        mark("quick")
        rec = _current.get()
        if rec is not None:
            stats = pool.get_stats()
            rec["pool_size"] = stats.get("pool_size")
            rec["pool_available"] = stats.get("pool_available")
        try:
            return limited(pool, *args, **kwargs)
        finally:
            mark("stored")

    postgres_deadlines._limited = limited_marked

    getconn = postgres_pool.Pool.getconn

    def getconn_marked(self: Any, *args: Any, **kwargs: Any) -> Any:
        conn = getconn(self, *args, **kwargs)
        mark("conn")
        return conn

    postgres_pool.Pool.getconn = getconn_marked

    client_cursor = postgres_deadlines.psycopg.ClientCursor

    class MarkedCursor(client_cursor):  # type: ignore[misc,valid-type]
        def execute(self, *args: Any, **kwargs: Any) -> Any:
            mark("sent")
            try:
                return super().execute(*args, **kwargs)
            finally:
                mark("answered")

    postgres_deadlines.psycopg = _Shim(postgres_deadlines.psycopg, ClientCursor=MarkedCursor)


class _Shim:
    def __init__(self, module: Any, **over: Any) -> None:
        self._module, self._over = module, over

    def __getattr__(self, name: str) -> Any:
        return self._over[name] if name in self._over else getattr(self._module, name)


def _pool_min() -> None:
    """BENCH_POOL_MIN: the bot's pool opened with that many connections kept (an experiment)."""
    from bot.store.db import postgres_pool

    pool_init = postgres_pool.Pool.__init__

    def pool_init_min(self: Any, *args: Any, **kwargs: Any) -> None:
        kwargs["min_size"] = int(os.environ["BENCH_POOL_MIN"])
        pool_init(self, *args, **kwargs)

    postgres_pool.Pool.__init__ = pool_init_min


if os.environ.get("BENCH_RECENT"):  # the pool's unchecked window (an experiment)
    from bot.store.db import postgres_pool as _postgres_pool

    _postgres_pool.RECENT = float(os.environ["BENCH_RECENT"])


def _work_after_last_ack() -> None:
    """BENCH_ACK_IDLE: background work waits until no request is being answered (not one at
    most), within the same patience (an experiment)."""
    from contextlib import contextmanager

    from bot.runtime import worker

    @contextmanager
    def answering(self: Any) -> Any:
        with self._quiet:
            self._bench_answering = getattr(self, "_bench_answering", 0) + 1
        try:
            yield
        finally:
            with self._quiet:
                self._bench_answering -= 1
                if self._bench_answering == 0:
                    self._quiet.notify_all()

    def wait_turn(self: Any) -> None:
        deadline = time.monotonic() + self.patience
        with self._quiet:
            while (
                getattr(self, "_bench_answering", 0) > 0
                and (left := deadline - time.monotonic()) > 0
            ):
                self._waiting += 1
                try:
                    self._quiet.wait(left)
                finally:
                    self._waiting -= 1

    worker.AckFirst.answering = answering
    worker.AckFirst.wait_turn = wait_turn


if os.environ.get("BENCH_SWITCH"):  # the GIL's switch interval in seconds (an experiment)
    import sys

    sys.setswitchinterval(float(os.environ["BENCH_SWITCH"]))


def _dispatch_threads() -> None:
    """BENCH_DISPATCH_THREADS: Bolt dispatched on at most that many of Starlette's threads
    (anyio's default limiter allows 40)."""
    import anyio.to_thread

    from bot.http import asgi

    limiter: list[anyio.CapacityLimiter] = []

    async def run_limited(func: Any, *args: Any) -> Any:
        if not limiter:
            limiter.append(anyio.CapacityLimiter(int(os.environ["BENCH_DISPATCH_THREADS"])))
        return await anyio.to_thread.run_sync(func, *args, limiter=limiter[0])

    asgi.run_in_threadpool = run_limited


if os.environ.get("BENCH_DISPATCH_THREADS"):
    _dispatch_threads()

if os.environ.get("BENCH_ACK_IDLE"):
    _work_after_last_ack()

if os.environ.get("BENCH_POOL_MIN"):
    _pool_min()

_writing = threading.Lock()


def _write(line: dict[str, Any]) -> None:
    with _writing:
        _out.write(json.dumps(line) + "\n")
        _out.flush()


if OUT:
    _out = open(OUT, "a")  # noqa: SIM115 (the bot ends with os._exit: written as it goes)
    _install()
