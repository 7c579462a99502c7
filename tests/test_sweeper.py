"""The recovery sweep never waits on a run's lock or a worker: what it finds is handed to the
pool and only tried; a busy run is skipped and comes back next tick; the scheduler's tick
returns while a run's step holds its lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bot.core.sweeper import Sweeper
from bot.domain.models import RunRequest
from bot.runtime.worker import Worker
from bot.store.db import Database, open_database
from tests.support.held import held_in_thread
from tests.support.inprocess import Clock, inprocess_deps

THREAD = "b" * 32


@pytest.fixture
def db(tmp_path) -> Iterator[Database]:
    opened = open_database(f"sqlite:///{tmp_path / 'bot.db'}")
    yield opened
    opened.close()


@pytest.fixture
def worker() -> Iterator[Worker]:
    pool = Worker(max_workers=2)
    yield pool
    pool.shutdown(wait=False)


def _wait(ready, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.02)


def test_a_busy_run_is_skipped_and_finished_by_a_later_sweep(db, worker):
    sweeper = Sweeper(worker, db)
    done: list[str] = []
    release, holder = held_in_thread(lambda: db.key_lock(THREAD))
    started = time.monotonic()
    assert sweeper.hand("run:b", THREAD, lambda: done.append("b"))
    assert time.monotonic() - started < 0.5  # handed over, not waited for
    _wait(lambda: not sweeper.busy(), "the busy run was tried and skipped")
    assert done == []
    release.set()
    holder.join(10)
    assert sweeper.hand("run:b", THREAD, lambda: done.append("b"))
    _wait(lambda: done == ["b"], "the next sweep finishes it")


def test_an_item_still_under_way_is_not_handed_over_again(db, worker):
    sweeper = Sweeper(worker, db)
    going, release = threading.Event(), threading.Event()

    def slow() -> None:
        going.set()
        release.wait(10)

    assert sweeper.hand("run:b", THREAD, slow)
    assert going.wait(10)
    assert not sweeper.hand("run:b", THREAD, slow)  # the next tick finds it again: no copy
    assert sweeper.busy() == ["run:b"]
    release.set()
    _wait(lambda: not sweeper.busy(), "it finished")


def test_a_full_pool_does_not_hold_up_the_sweep(db):
    pool = Worker(max_workers=1)
    release = threading.Event()
    pool.submit(release.wait, 10)  # every worker busy
    try:
        sweeper = Sweeper(pool, db)
        started = time.monotonic()
        for n in range(20):
            sweeper.hand(f"run:{n}", f"t{n}", lambda: None)
        assert time.monotonic() - started < 0.5
    finally:
        release.set()
        pool.shutdown(wait=True)


def test_the_tick_returns_while_a_stale_runs_step_holds_its_lock(fake_slack, fake_openai, tmp_path):
    """Read in the code before: the stale-run sweep called advance(), which waited on the run's
    lock without a limit, so the tick never returned while a step hung."""
    clock = Clock()
    deps = inprocess_deps(
        fake_slack, fake_openai, f"sqlite:///{tmp_path / 'bot.db'}", clock, RETRY_AFTER="60"
    )
    try:
        deps.store.create_run(THREAD, RunRequest("draft", "hi", "U0REQ", "C0REQ", "C0REQ"))
        clock.advance(600)  # "running" and old: what the stale-run sweep looks for
        assert [r.thread_id for r in deps.store.stale_runs(60)] == [THREAD]
        release, holder = held_in_thread(
            lambda: deps.db.key_lock(THREAD)
        )  # a worker's step holds the run
        ticked = threading.Event()
        threading.Thread(target=lambda: (deps.scheduler.tick(), ticked.set()), daemon=True).start()
        assert ticked.wait(5), "the tick waited on the run's lock"
        assert deps.store.get_run(THREAD).status == "running"  # type: ignore[union-attr]
        assert fake_openai.requests == []  # skipped, not stepped twice
        release.set()
        holder.join(10)
    finally:
        deps.close()
