"""The stale-run sweep finds a run whose decision reached the graph but whose next step was never
published (the process died in between), without reading every waiting run (SQLite and
PostgreSQL)."""

from __future__ import annotations

import pytest

from bot.domain.models import Decision, RunRequest
from bot.domain.review import Review
from bot.domain.signoff import SignOff, Stage
from bot.store.db import open_database
from bot.store.repository import Store


class Clock:
    now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(database_url):
    db = open_database(database_url)
    yield Store(db, Clock())
    db.close()


def _waiting(store: Store, thread: str):
    run = store.create_run(thread, RunRequest("draft", "hi", "U0REQ", "C0", "C0"))
    approval = store.add_approval(run, "i-1", {}, Review("plain", "x", ()), (), SignOff((Stage(),)))
    store.set_run_status(thread, "waiting")
    return approval


def test_an_applied_decision_puts_its_run_where_the_sweep_looks(store):
    decided = _waiting(store, "a" * 32)
    _waiting(store, "b" * 32)  # still waiting for a person: never swept
    assert store.claim(decided.id, Decision("approve", "U0BOSS")) is not None
    store.mark_applied(decided.id)  # ... and the process dies before publishing what came next
    store.clock.now += 120  # type: ignore[attr-defined]
    assert [r.thread_id for r in store.stale_runs(60)] == ["a" * 32]
    assert store.get_run("a" * 32).status == "running"  # type: ignore[union-attr]
    assert store.get_run("b" * 32).status == "waiting"  # type: ignore[union-attr]


def test_marking_twice_changes_nothing_the_second_time(store):
    decided = _waiting(store, "c" * 32)
    store.claim(decided.id, Decision("approve", "U0BOSS"))
    store.mark_applied(decided.id)
    store.set_run_status("c" * 32, "done")
    store.mark_applied(decided.id)
    assert store.get_run("c" * 32).status == "done"  # type: ignore[union-attr]
