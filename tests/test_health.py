"""The health check: the database answers and the scheduler ticked recently, or a 503 reason."""

from __future__ import annotations

from bot.health import Health


class Database:
    def __init__(self) -> None:
        self.down = False

    def fetch_one_quick(self, sql, params=None):
        if self.down:
            raise OSError("connection refused\nmore detail")
        return {"ok": 1}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_healthy_when_the_database_answers_and_the_scheduler_ticks():
    clock, db = Clock(), Database()
    health = Health(db, tick_every=30, clock=clock, started=clock.now)
    ok, report = health.check()
    assert ok and report == {
        "database": "ok",
        "scheduler": {"last_tick_seconds_ago": 0.0},
        "ok": True,
    }


def test_a_database_that_does_not_answer_is_named_as_the_reason():
    clock, db = Clock(), Database()
    health = Health(db, tick_every=30, clock=clock, started=clock.now)
    db.down = True
    ok, report = health.check()
    assert not ok
    assert report["database"] == "not answering: connection refused"
    assert report["reason"] == "the database is not answering"


def test_a_scheduler_that_stopped_ticking_is_unhealthy_after_three_ticks_or_a_minute():
    clock, db = Clock(), Database()
    health = Health(db, tick_every=30, clock=clock, started=clock.now)
    health.ticked()
    clock.now += 89
    assert health.check()[0]
    clock.now += 2
    ok, report = health.check()
    assert not ok and report["reason"] == (
        "the scheduler has not ticked for 91s (it should every 30s)"
    )
    health.ticked()
    assert health.check()[0]
    fast = Health(db, tick_every=1, clock=clock, started=clock.now)
    clock.now += 59
    assert fast.check()[0]  # never under a minute, so a slow start is not a failure
