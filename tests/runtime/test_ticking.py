"""The clock that drives the scheduler (bot.runtime.ticking): APScheduler calls the tick every
few seconds, keeps no job store, never runs two ticks at once, and a tick that raises is
logged and does not stop the next."""

from __future__ import annotations

import logging
import threading

import pytest

from bot.runtime.ticking import start_ticking
from tests.support.units import wait_until

EVERY = 0.05


@pytest.fixture
def started():
    schedulers = []

    def start(tick):
        scheduler = start_ticking(tick, EVERY)
        schedulers.append(scheduler)
        return scheduler

    yield start
    for scheduler in schedulers:
        scheduler.shutdown(wait=False)


def test_the_tick_is_called_again_and_again(started):
    ticks: list[int] = []
    scheduler = started(lambda: ticks.append(1))
    wait_until(lambda: len(ticks) >= 3, what="three ticks")
    [job] = scheduler.get_jobs()
    assert job.id == "tick"


def test_a_tick_that_raises_is_logged_and_the_next_one_comes(started, caplog):
    calls: list[int] = []

    def tick():
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")

    with caplog.at_level(logging.ERROR, logger="bot.runtime.ticking"):
        started(tick)
        wait_until(lambda: len(calls) >= 2, what="a tick after the failing one")
    [record] = [r for r in caplog.records if r.name == "bot.runtime.ticking"]
    assert record.getMessage() == "scheduler tick failed"
    assert record.exc_info[1].args == ("database away",)


def test_a_slow_tick_is_never_run_twice_at_once(started):
    running, most = [0], [0]
    guard = threading.Lock()
    finished: list[int] = []

    def tick():
        with guard:
            running[0] += 1
            most[0] = max(most[0], running[0])
        threading.Event().wait(EVERY * 4)  # longer than the interval
        with guard:
            running[0] -= 1
        finished.append(1)

    started(tick)
    wait_until(lambda: len(finished) >= 2, what="two slow ticks")
    assert most[0] == 1
