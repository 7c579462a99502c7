"""Retention (``python -m bot prune``): what ended before the cutoff goes, whole, with its
checkpoints; runs still running or waiting, and recent ones, stay untouched. On SQLite and on a
real PostgreSQL server."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest
from langgraph.graph import END, START, StateGraph

from bot.cli import prune as prune_cli
from bot.core import outcomes
from bot.core.journal import Journal
from bot.core.run_control import RunControl
from bot.runtime.metrics import Metrics
from bot.store import retention
from bot.store.attempts import MAX_APPLY_ATTEMPTS
from bot.store.audit_log import Audit
from bot.store.db import Database, open_database
from bot.store.repository import Store
from bot.store.retention import CHECKPOINT_TABLES, prune

OLD, CUTOFF, RECENT = 1_000.0, 2_000.0, 3_000.0
RUNS = {"old-done": ("done", OLD), "old-waiting": ("waiting", OLD), "new-done": ("done", RECENT)}
TABLES = ("runs", "approvals", "votes", "jobs", "inbox", "effects", "audit")


def seed(db: Database) -> None:
    graph = StateGraph(dict)
    graph.add_node("step", lambda state: {"done": True})
    graph.add_edge(START, "step")
    graph.add_edge("step", END)
    compiled = graph.compile(checkpointer=db.checkpointer())
    for thread, (status, at) in RUNS.items():
        compiled.invoke({"x": 1}, {"configurable": {"thread_id": thread}})
        p = {"t": thread, "a": f"{thread}-req", "s": status, "at": at}
        db.execute(
            "INSERT INTO runs (thread_id, graph, request, requester, channel, approvals_channel,"
            " status, created_at, updated_at) VALUES (%(t)s, 'g', 'r', 'U1', 'C1', 'C1', %(s)s,"
            " %(at)s, %(at)s)",
            p,
        )
        db.execute(
            "INSERT INTO approvals (id, thread_id, interrupt_id, graph, request, requester,"
            " payload, channel, status, created_at, applied_at) VALUES (%(a)s, %(t)s, 'i', 'g',"
            " 'r', 'U1', '{}', 'C1', 'approved', %(at)s, %(at)s)",
            p,
        )
        db.execute(
            "INSERT INTO votes (approval_id, stage, voter, vote, decision, cast_at) VALUES"
            " (%(a)s, 0, 'U2', 'approve', '{}', %(at)s)",
            p,
        )
        db.execute(
            "INSERT INTO jobs (id, approval_id, kind, level, round, detail, due_at, status)"
            " VALUES (%(a)s || '-job', %(a)s, 'remind', 0, 0, '{}', %(at)s, 'pending')",
            p,
        )
        db.execute(
            "INSERT INTO inbox (id, approval_id, decision, received_at) VALUES"
            " (%(a)s || '-click', %(a)s, '{}', %(at)s)",
            p,
        )
        for key in (f"{thread}:post", f"{thread}-req:edit-note"):
            db.execute(
                "INSERT INTO effects (key, status, created_at, updated_at) VALUES"
                " (%(k)s, 'done', %(at)s, %(at)s)",
                {"k": key, "at": at},
            )
        Audit(db, lambda at=at: at).record("started", thread, "U1")
    # Finished work of a run that goes on: an applied click and a sent reminder, long ago.
    db.execute(
        "INSERT INTO inbox (id, approval_id, decision, received_at, done_at) VALUES"
        " ('applied-click', 'old-waiting-req', '{}', 1, 1)"
    )
    db.execute(
        "INSERT INTO jobs (id, approval_id, kind, level, round, detail, due_at, status, done_at)"
        " VALUES ('sent-job', 'old-waiting-req', 'remind', 0, 0, '{}', 1, 'done', 1)"
    )


def left(db: Database) -> dict[str, set[str]]:
    """Which runs each table still holds something of (by thread id, or key prefix)."""

    def of(value: str) -> str:
        return next(t for t in RUNS if value.startswith(t))

    held: dict[str, set[str]] = {}
    columns = {"runs": "thread_id", "approvals": "thread_id", "audit": "thread_id"}
    columns |= {"votes": "approval_id", "jobs": "approval_id", "inbox": "approval_id"}
    columns |= {"effects": "key"}
    for table in (*TABLES, *CHECKPOINT_TABLES[db.dialect]):
        column = columns.get(table, "thread_id")
        held[table] = {of(r["v"]) for r in db.fetch_all(f"SELECT {column} AS v FROM {table}")}
    return held


@pytest.fixture
def db(database_url: str) -> Any:
    database = open_database(database_url)
    seed(database)
    yield database
    database.close()


def test_runs_that_ended_before_the_cutoff_go_whole_and_the_rest_stay(db: Database) -> None:
    before = left(db)
    counts = prune(db, CUTOFF)
    after = left(db)
    for table, runs in after.items():
        gone = set() if table == "audit" else {"old-done"}  # the audit is kept unless asked
        assert runs == before[table] - gone, table
    assert before["checkpoints"] == set(RUNS)  # it had checkpoints to lose
    assert counts["runs"] == 1 and counts["effects"] == 2 and counts["checkpoints"] >= 1
    assert counts["inbox"] == 2 and counts["jobs"] == 2  # with the finished work of old-waiting
    assert "audit" not in counts


def test_a_dry_run_counts_and_deletes_nothing(db: Database) -> None:
    before = left(db)
    counts = prune(db, CUTOFF, audit_before=CUTOFF, dry_run=True)
    assert counts["runs"] == 1 and counts["audit"] == 2
    assert left(db) == before


def test_the_audit_goes_only_on_its_own_cutoff(db: Database) -> None:
    prune(db, CUTOFF, audit_before=CUTOFF)
    assert left(db)["audit"] == {"new-done"}


def test_prune_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert prune_cli.main(["--older-than", "1d"], env={}) == 2  # no database: none created
    assert "DATABASE_URL is not set" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    database = open_database(url)
    seed(database)
    database.close()
    code = prune_cli.main(["--older-than", "1d", "--dry-run"], env={"DATABASE_URL": url})
    assert code == 0
    assert capsys.readouterr().out.startswith("prune: would delete: ")
    assert prune_cli.main(["--older-than", "1d"], env={"DATABASE_URL": url}) == 0
    said = capsys.readouterr().out
    assert "runs 2" in said and "audit" not in said  # the two that ended (in 1970); not waiting


@pytest.mark.parametrize(
    ("status", "attempts", "kept"),
    [
        ("approved", 1, True),  # failed once: the recovery sweep still applies it
        ("approved", MAX_APPLY_ATTEMPTS, False),  # given up: the run really ended
        ("pending", 0, True),  # a request still waits (a Retry can take the run up again)
    ],
)
def test_a_failed_run_stays_while_its_decision_is_still_being_applied(
    db: Database, status: str, attempts: int, kept: bool
) -> None:
    # The sweep's retries that never reach the graph (the server away, the thread busy) do not
    # touch the run: old as it looks, a decision a person approved is still on its way.
    db.execute(
        "INSERT INTO runs (thread_id, graph, request, requester, channel, approvals_channel,"
        " status, created_at, updated_at) VALUES ('t1', 'g', 'r', 'U1', 'C1', 'C1', 'failed',"
        " %(at)s, %(at)s)",
        {"at": OLD},
    )
    db.execute(
        "INSERT INTO approvals (id, thread_id, interrupt_id, graph, request, requester, payload,"
        " channel, status, created_at, decided_at, decided_by, apply_attempts) VALUES ('a1',"
        " 't1', 'i', 'g', 'r', 'U1', '{}', 'C1', %(status)s, %(at)s, %(at)s, 'U2', %(n)s)",
        {"at": OLD, "status": status, "n": attempts},
    )
    prune(db, CUTOFF)
    assert bool(db.fetch_all("SELECT id FROM approvals WHERE id = 'a1'")) is kept
    assert bool(db.fetch_all("SELECT thread_id FROM runs WHERE thread_id = 't1'")) is kept


def _until_waiting_on_a_lock_or_done(url: str, thread: threading.Thread) -> None:
    """Until another session of the database waits on a row lock, or ``thread`` has ended."""
    deadline = time.monotonic() + 10
    with psycopg.connect(url, autocommit=True) as admin:
        while thread.is_alive() and time.monotonic() < deadline:
            waiting = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"
            ).fetchone()
            if waiting and waiting[0]:
                return
            time.sleep(0.01)


class _Pool:
    def __init__(self) -> None:
        self.submitted: list[tuple[Any, ...]] = []

    def submit(self, fn: Any, *args: Any) -> None:
        self.submitted.append((fn, *args))


def test_a_retry_pressed_while_prune_deletes_its_run_waits_and_finds_the_run_gone(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Prune chooses its runs, then a person presses Retry on one of them (PostgreSQL, READ
    COMMITTED): Retry waits for the prune and hears the run is gone, rather than "Retrying" a
    run the prune then deletes with the decision Retry handed back."""
    old = time.time() - 100 * 86400
    db, bot_db = open_database(postgres_url), open_database(postgres_url)
    try:
        db.execute(
            "INSERT INTO runs (thread_id, graph, request, requester, channel, approvals_channel,"
            " status, created_at, updated_at) VALUES ('t1', 'g', 'r', 'U1', 'C1', 'C1',"
            " 'failed', %(at)s, %(at)s)",
            {"at": old},
        )
        db.execute(
            "INSERT INTO approvals (id, thread_id, interrupt_id, graph, request, requester,"
            " payload, channel, status, created_at, decided_at, decided_by, decision,"
            " apply_attempts, apply_fence) VALUES ('a1', 't1', 'i', 'g', 'r', 'U1', '{}', 'C1',"
            ' \'approved\', %(at)s, %(at)s, \'U2\', \'{"type": "approve", "by": "U2"}\','
            " %(n)s, %(n)s)",
            {"at": old, "n": MAX_APPLY_ATTEMPTS},
        )
        pool = _Pool()
        control = RunControl(
            Store(bot_db, time.time),
            bot_db,
            None,
            Journal(Audit(bot_db, time.time), Metrics()),
            None,
            pool,  # type: ignore[arg-type]
            lambda approval: None,
            lambda thread_id, again: None,
        )
        said: list[outcomes.Retry] = []
        pressed = threading.Thread(target=lambda: said.append(control.retry("t1", "U0ASKER")))
        temp = retention._temp

        def chosen_then_retried(tx: Any, dialect: str, name: str, *rest: Any) -> None:
            temp(tx, dialect, name, *rest)
            if name == "prune_runs":  # the runs are chosen; Retry is pressed now
                pressed.start()
                _until_waiting_on_a_lock_or_done(postgres_url, pressed)

        monkeypatch.setattr(retention, "_temp", chosen_then_retried)
        prune(db, time.time() - 90 * 86400)
        pressed.join(10)
        run = db.fetch_one("SELECT status FROM runs WHERE thread_id = 't1'")
        assert [s.kind for s in said] == [outcomes.RetryKind.NOT_FOUND]
        assert run is None and pool.submitted == []
    finally:
        db.close()
        bot_db.close()
