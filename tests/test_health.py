"""The health check: the database answers and the scheduler ticked recently, or a 503 reason."""

from __future__ import annotations

import logging

from bot.http.health import Health

# What psycopg says when the server is away: where it lives and who the bot connects as.
REFUSED = (
    'connection failed: connection to server at "10.1.2.3", port 5432 failed: FATAL:  '
    'password authentication failed for user "approvals_bot"\nmore detail'
)


class Database:
    def __init__(self) -> None:
        self.down = False
        self.queries = 0

    def fetch_one_quick(self, sql, params=None):
        self.queries += 1
        if self.down:
            raise OSError(REFUSED)
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


def test_a_database_that_does_not_answer_is_named_as_the_reason_and_its_error_only_logged(
    caplog,
):
    clock, db = Clock(), Database()
    health = Health(db, tick_every=30, clock=clock, started=clock.now)
    db.down = True
    with caplog.at_level(logging.WARNING, logger="bot.http.health"):
        ok, report = health.check()
        again = health.check()[1]
    assert not ok
    assert report["database"] == "not answering"
    assert report["reason"] == "the database is not answering"
    # Anyone may call /healthz: the answer names neither the host nor the user.
    for leaked in ("10.1.2.3", "5432", "approvals_bot", "password"):
        assert leaked not in repr(report) and leaked not in repr(again)
    # The operator reads the detail in the log: the traceback once, then one line a probe.
    assert [r.levelname for r in caplog.records] == ["ERROR", "WARNING"]
    assert caplog.records[0].exc_info is not None and REFUSED in caplog.text
    assert "still not answering: connection failed" in caplog.records[1].getMessage()
    db.down = False
    assert health.check()[0]


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


def test_the_http_answer_to_anyone_holds_no_database_detail():
    from starlette.testclient import TestClient

    from bot.http.asgi import create_operations_asgi
    from bot.runtime.metrics import Metrics

    clock, db = Clock(), Database()
    db.down = True
    health = Health(db, tick_every=30, clock=clock, started=clock.now)
    health.refresh()
    with TestClient(create_operations_asgi(health, Metrics(), [])) as client:
        answer = client.get("/healthz")
    assert answer.status_code == 503
    assert answer.json()["reason"] == "the database is not answering"
    for leaked in ("10.1.2.3", "5432", "approvals_bot", "password", "connection failed"):
        assert leaked not in answer.text


def test_requests_read_the_background_snapshot_and_never_query_the_database():
    from starlette.testclient import TestClient

    from bot.http.asgi import create_operations_asgi
    from bot.runtime.metrics import Metrics

    clock, db = Clock(), Database()
    health = Health(db, tick_every=1, clock=clock, started=clock.now, refresh_every=1)
    metrics = Metrics()
    counted: list[int] = []
    metrics.count_pending(lambda: counted.append(1) or 7)
    with TestClient(create_operations_asgi(health, metrics, [])) as client:
        assert client.get("/healthz").json()["reason"] == "the database has not been checked yet"
        health.refresh()
        metrics.refresh()
        health.ticked()
        for _ in range(100):
            assert client.get("/healthz").status_code == 200
            assert "approval_requests_pending 7.0" in client.get("/metrics").text
    assert (db.queries, len(counted)) == (1, 1)  # the one refresh each, not one a request


def test_a_snapshot_nobody_refreshed_for_five_probes_is_a_503():
    clock, db = Clock(), Database()
    health = Health(db, tick_every=1, clock=clock, started=clock.now, refresh_every=2)
    health.refresh()
    health.ticked()
    clock.now += 10
    health.ticked()  # the scheduler still ticks: only the probe stopped coming back
    assert health.report()[0]
    clock.now += 1
    ok, report = health.report()
    assert not ok and report["reason"] == "the database has not been checked for 11s"
    assert report["database"] == "ok" and report["checked_seconds_ago"] == 11.0
    health.refresh()
    assert health.report()[0]


def test_the_refresher_runs_its_jobs_at_once_and_again_and_survives_a_failing_one():
    import threading

    from bot.runtime.refresher import Refresher

    runs = threading.Semaphore(0)

    def failing() -> None:
        raise OSError("database away")

    refresher = Refresher([failing, runs.release], every=0.01, name="test").start()
    try:
        assert all(runs.acquire(timeout=5) for _ in range(3))
    finally:
        refresher.stop()
