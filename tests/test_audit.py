"""The audit trail: appended, read back per run and by time, exported as CSV and JSON Lines."""

from __future__ import annotations

import csv
import io
import json

import pytest

from bot.store.audit_log import FIELDS, Audit, to_csv, to_json
from bot.store.db import open_database


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        self.now += 1
        return self.now


@pytest.fixture
def audit(database_url):
    db = open_database(database_url)
    yield Audit(db, Clock())
    db.close()


def test_events_are_read_back_per_run_in_order_and_since_a_time(audit):
    audit.record("started", "run-a", "U0REQ", graph="draft")
    audit.record("requested", "run-a", "bot", "req-1", kind="draft")
    audit.record("started", "run-b", "U0REQ")
    audit.record("edited", "run-a", "U0BOSS", "req-1", before={"text": "a"}, after={"text": "b"})
    events = audit.for_run("run-a")
    assert [(e.event, e.actor, e.approval_id) for e in events] == [
        ("started", "U0REQ", None),
        ("requested", "bot", "req-1"),
        ("edited", "U0BOSS", "req-1"),
    ]
    assert events[2].detail == {"before": {"text": "a"}, "after": {"text": "b"}}
    assert [e.thread_id for e in audit.since(1_700_000_002.5)] == ["run-b", "run-a"]


def test_many_requests_reminded_at_once_are_each_recorded(audit):
    audit.record_each("reminded", "scheduler", [(f"run-{i}", f"req-{i}") for i in range(300)])
    audit.record_each("reminded", "scheduler", [])
    events = audit.since(0)
    assert len(events) == 300
    assert {(e.thread_id, e.approval_id, e.event, e.actor) for e in events} == {
        (f"run-{i}", f"req-{i}", "reminded", "scheduler") for i in range(300)
    }


class Down:
    def execute(self, sql, params=None):
        raise OSError("database away")


def test_a_failed_write_is_logged_not_raised(caplog):
    audit = Audit(Down(), Clock())  # type: ignore[arg-type]
    audit.record("approved", "run-a", "U0BOSS")
    assert "could not record the audit event approved of run run-a" in caplog.text
    audit.record_each("reminded", "scheduler", [("run-a", "req-1")])
    assert "could not record 1 audit events reminded" in caplog.text


def test_csv_and_json_exports_hold_every_field(audit):
    audit.record("rejected", "run-a", "U0BOSS", "req-1", reason='too broad, "really"')
    events = audit.for_run("run-a")
    [row] = list(csv.DictReader(io.StringIO(to_csv(events))))
    assert row == {
        "at": "1700000001.0",
        "time": "2023-11-14T22:13:21Z",
        "run": "run-a",
        "request": "req-1",
        "event": "rejected",
        "actor": "U0BOSS",
        "detail": '{"reason": "too broad, \\"really\\""}',
    }
    [line] = to_json(events).splitlines()
    assert json.loads(line) == {
        "at": 1700000001.0,
        "time": "2023-11-14T22:13:21Z",
        "run": "run-a",
        "request": "req-1",
        "event": "rejected",
        "actor": "U0BOSS",
        "detail": {"reason": 'too broad, "really"'},
    }
    assert list(json.loads(line)) == list(row) == list(FIELDS)  # one set of names, one order
