"""Acks first (bot/runtime/worker.py): background work waits while other Slack requests are
answered."""

from __future__ import annotations

import threading
import time

from bot.runtime.worker import AckFirst, Worker
from tests.support.units import wait_until


def _worker_and_starts(acks: AckFirst) -> tuple[Worker, list[float]]:
    started: list[float] = []
    return Worker(max_workers=2, before=acks.wait_turn), started


def test_work_waits_until_the_requests_being_answered_are_answered():
    acks = AckFirst(patience=5.0)
    worker, started = _worker_and_starts(acks)
    first, second = acks.answering(), acks.answering()
    first.__enter__()
    second.__enter__()
    done = worker.submit(lambda: started.append(time.monotonic()))
    wait_until(lambda: acks.waiting == 1, what="the work held back")
    assert started == []  # two requests still being answered: the work has not started
    answered = time.monotonic()
    second.__exit__(None, None, None)
    done.result(timeout=2)
    first.__exit__(None, None, None)
    assert answered <= started[0] < answered + 1.0  # at once, not after the patience
    assert acks.waiting == 0
    worker.shutdown()


def test_a_lone_request_does_not_hold_back_its_own_work():
    acks = AckFirst(patience=5.0)
    worker, started = _worker_and_starts(acks)
    with acks.answering():
        submitted = time.monotonic()
        worker.submit(lambda: started.append(time.monotonic())).result(timeout=2)
    assert started[0] - submitted < 0.1
    worker.shutdown()


def test_a_steady_stream_of_requests_delays_work_by_the_patience_never_more():
    acks = AckFirst(patience=0.15)
    worker, started = _worker_and_starts(acks)
    stop, answering = threading.Event(), threading.Event()

    def stream() -> None:  # always at least two requests being answered
        with acks.answering(), acks.answering():
            answering.set()
            stop.wait()

    busy = threading.Thread(target=stream)
    busy.start()
    assert answering.wait(5)
    try:
        submitted = time.monotonic()
        worker.submit(lambda: started.append(time.monotonic())).result(timeout=2)
    finally:
        stop.set()
        busy.join()
    assert 0.14 <= started[0] - submitted < 0.6
    worker.shutdown()
