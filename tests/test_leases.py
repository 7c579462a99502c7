"""A long step is not a stuck run: a worker stepping a run holds a lease on it that a heartbeat
renews, and the stale-run sweep takes a run only once its lease ran out (SQLite and
PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bot.core.leases import Leases
from bot.domain.models import RunRequest
from bot.store.db import open_database
from bot.store.repository import Store
from tests.support.inprocess import Clock

THREAD = "a" * 32


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    db = open_database(database_url)
    yield Store(db, Clock())
    db.close()


def _lease_of(store: Store) -> float | None:
    row = store.db.fetch_one("SELECT lease_until FROM runs WHERE thread_id = %(t)s", {"t": THREAD})
    assert row is not None
    return row["lease_until"]


def _stale(store: Store) -> list[str]:
    return [run.thread_id for run in store.stale_runs(60)]


def _wait(ready, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.02)


def test_a_step_longer_than_the_sweep_age_is_not_taken_while_its_heartbeat_goes_on(store):
    clock: Clock = store.clock  # type: ignore[assignment]
    store.create_run(THREAD, RunRequest("draft", "hi", "U0REQ", "C0", "C0"))
    leases = Leases(store, term=0.3)  # renewed every 0.1 s (real time)
    try:
        with leases.holding(THREAD):
            for _ in range(3):  # the step runs on, minutes of the bot's clock
                clock.advance(120)
                _wait(lambda: (_lease_of(store) or 0) > clock(), "the heartbeat renews the lease")
                assert _stale(store) == []  # old, but leased: not stuck
        assert _lease_of(store) is None  # given up when the step ended
        assert _stale(store) == [THREAD]  # and now, still "running", it is the sweep's
    finally:
        leases.stop()


def test_a_lease_nobody_renews_runs_out_and_the_run_is_taken(store):
    """The process stepping the run died: its lease is not renewed, and once it has run out
    (not before) the sweep takes the run."""
    clock: Clock = store.clock  # type: ignore[assignment]
    store.create_run(THREAD, RunRequest("draft", "hi", "U0REQ", "C0", "C0"))
    clock.advance(120)
    store.lease([THREAD], clock() + 30)  # the dead process's last renewal
    assert _stale(store) == []
    clock.advance(29)
    assert _stale(store) == []
    clock.advance(2)
    assert _stale(store) == [THREAD]


def test_a_step_is_leased_from_the_first_beat_and_nested_holds_keep_it(store):
    store.create_run(THREAD, RunRequest("draft", "hi", "U0REQ", "C0", "C0"))
    leases = Leases(store, term=30)
    try:
        with leases.holding(THREAD):
            assert _lease_of(store) is None  # a quick step writes nothing
            leases.beat()  # the heartbeat's first beat, while the step goes on
            with leases.holding(THREAD):
                pass
            assert _lease_of(store) is not None
            assert leases.held() == [THREAD]
        assert _lease_of(store) is None and leases.held() == []
    finally:
        leases.stop()
