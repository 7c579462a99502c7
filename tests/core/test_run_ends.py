"""A run's end and its audit row (bot.core.run_ends) on both real databases: a run that ends
without a decision (a plain step, the recovery sweep) is marked done or failed in the same
statement (PostgreSQL) or transaction (SQLite) that writes its ``done`` or ``failed`` row, so
no crash or lost connection between the two leaves an end with no row for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

import pytest

from bot.agents.runner import RunState
from bot.core.ledger import MAX_ATTEMPTS
from bot.domain.models import Decision, FailureNotice, Run, RunRequest
from bot.runtime.worker import InlineWorker
from bot.store.db import Database
from graphs.outcomes import TryAgain
from tests.support import audit_refusals
from tests.support.audit_refusals import allow, exported
from tests.support.statements import counting
from tests.support.units import FakeGraph, engine_parts


@pytest.fixture
def parts(db, clock):
    built = engine_parts(db, clock)
    yield built
    built.close()


@pytest.fixture
def refusing(db: Database) -> Iterator[None]:
    """The database refuses the ``done`` and ``failed`` audit rows (a trigger), as a dropped
    connection or a full disk would refuse the write; let them through again afterwards."""
    with audit_refusals.refusing(db, "done", "failed"):
        yield


def running(parts, thread_id: str = "r" * 32) -> Run:
    request = RunRequest("draft", "draft a note", "U0ASKER", "C0ASK", "C0CARDS")
    parts.store.create_run(thread_id, request)
    parts.store.set_run_status(thread_id, "running")
    run = parts.store.get_run(thread_id)
    assert run is not None
    return run


def events(parts, run: Run, *kinds: str) -> list[str]:
    return [e.event for e in parts.engine.journal.audit.for_run(run.thread_id) if e.event in kinds]


def test_a_run_that_ends_in_a_step_has_one_done_row_in_the_exported_audit(db, db_url, clock):
    class Finishing(FakeGraph):
        def start(self, run: Run) -> RunState:
            self.states[run.thread_id] = RunState(True, True, (), values={"decision": "none"})
            return self.states[run.thread_id]

    parts = engine_parts(db, clock, graph=Finishing())
    try:
        run = parts.start(requester="U0ASKER")
        assert parts.store.get_run(run.thread_id).status == "done"
        parts.engine.advance(run.thread_id)  # again (the sweep): nothing more is written
        trail = [(e["event"], e["actor"]) for e in exported(db_url, run.thread_id)]
        assert trail == [("started", "U0ASKER"), ("done", "bot")]
    finally:
        parts.close()


def test_a_run_that_fails_in_a_step_has_one_failed_row_in_the_exported_audit(db, db_url, clock):
    class Failing(FakeGraph):
        def start(self, run: Run) -> RunState:
            raise ValueError("model said no")

    parts = engine_parts(db, clock, graph=Failing())
    try:
        run = parts.start(requester="U0ASKER")
        assert parts.store.get_run(run.thread_id).status == "failed"
        [failed] = [e for e in exported(db_url, run.thread_id) if e["event"] in ("failed", "done")]
        assert (failed["event"], failed["detail"]) == (
            "failed",
            {"error": "ValueError: model said no"},
        )
    finally:
        parts.close()


def test_a_decision_that_stops_the_run_has_one_executed_and_one_done_row(db, clock):
    parts = engine_parts(db, clock, graph=FakeGraph(stop_with="Stopped: rejected"))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        parts.engine.decide(approval.id, Decision("reject", "U0ASKER"))
        assert parts.store.get_run(run.thread_id).status == "done"
        assert events(parts, run, "executed", "done", "failed") == ["executed", "done"]
    finally:
        parts.close()


def test_a_run_is_not_marked_done_without_its_done_row_and_is_once_it_can_be(parts, db, refusing):
    run = running(parts)
    with pytest.raises(Exception, match="audit refused"):
        parts.engine.ends.finish(run, "All done.")
    # Neither the end nor its row: the run is left running, for the sweep to end again.
    assert parts.store.get_run(run.thread_id).status == "running"
    assert events(parts, run, "done") == []

    allow(db)
    parts.engine.ends.finish(run, "All done.")
    assert parts.store.get_run(run.thread_id).status == "done"
    assert events(parts, run, "done") == ["done"]
    assert parts.publisher.named("report") == [(run.thread_id, "All done.")]  # posted once


def test_a_run_is_not_marked_failed_without_its_failed_row(parts, refusing):
    run = running(parts)
    with pytest.raises(Exception, match="audit refused"):
        parts.engine.ends.failed(run, RuntimeError("model down"), decided=True)
    assert parts.store.get_run(run.thread_id).status == "running"
    assert events(parts, run, "failed") == []


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_on_postgres_a_run_s_end_and_its_audit_row_are_one_statement(parts):
    """Nothing can come between them: not a crash, not a lost connection."""
    run = running(parts)
    with counting() as statements:
        statements.recording = True
        parts.engine.ends.failed(run, RuntimeError("model down"), decided=True)
        statements.recording = False
    assert len(statements.ours) == 1, statements.report()
    assert parts.store.get_run(run.thread_id).status == "failed"
    assert events(parts, run, "failed") == ["failed"]

    done = running(parts, "d" * 32)
    with counting() as statements:
        statements.recording = True
        parts.engine.ends.finish(done, "All done.")
        statements.recording = False
    ends = [sql for sql, _ in statements.sent if "runs" in sql or "audit" in sql]
    assert len(ends) == 1, statements.report()
    assert "UPDATE runs" in ends[0] and "INSERT INTO audit" in ends[0]
    assert events(parts, done, "done") == ["done"]


class Crash(BaseException):
    """The process dies here (nothing after it runs, nothing catches it)."""


@pytest.mark.parametrize("ended", [True, False], ids=["after-its-end", "at-the-give-up"])
def test_a_failure_whose_notice_a_crash_cut_off_is_told_by_the_sweep(db, clock, monkeypatch, ended):
    """The decision is given up on and its run marked failed, and the process dies before the
    requester hears of it: right after the run's end is written (``ended``), or right after the
    give-up, whose transaction fails the run too. No sweep looks at a failed run or a given-up
    decision again; the recovery sweep tells the requester all the same, once."""
    parts = engine_parts(db, clock, graph=FakeGraph(fail_with=ValueError("bad args")))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        end_run = parts.store.end_run

        def dies(*args, **kwargs):
            if ended:
                end_run(*args, **kwargs)
            raise Crash

        monkeypatch.setattr(parts.store, "end_run", dies)
        with pytest.raises(Crash):
            parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
        monkeypatch.undo()
        assert parts.store.get_run(run.thread_id).status == "failed"
        assert parts.publisher.named("run_failed") == []

        clock.advance(parts.engine.stale_after + 1)
        parts.engine.recover()
        parts.engine.recover()
        assert parts.publisher.named("run_failed") == [
            (run.thread_id, "ValueError: bad args", True)
        ]
        assert len(parts.graph.answers) == 1  # told, not tried again
    finally:
        parts.close()


def refused_for_now(parts) -> list[bool]:
    """Slack answers the failure notice ``ratelimited`` (it did nothing) while the returned
    flag's one item is true."""
    refusing = [True]
    told = parts.publisher.run_failed

    def run_failed(*args, **kwargs):
        if refusing[0]:
            raise TryAgain("ratelimited")
        return told(*args, **kwargs)

    parts.publisher.run_failed = run_failed
    return refusing


@pytest.fixture
def untold(db, clock):
    """A run whose decision was given up on (``bad args``) and whose failure notice Slack
    refused for now (``refused_for_now``'s flag, still set): ``(parts, run, refusing)``."""
    parts = engine_parts(db, clock, graph=FakeGraph(fail_with=ValueError("bad args")))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        refusing = refused_for_now(parts)
        parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
        assert parts.publisher.named("run_failed") == []
        yield parts, run, refusing
    finally:
        parts.close()


def test_a_failure_notice_slack_refused_for_now_is_told_by_the_sweep(untold, clock):
    """Slack answered the failure notice with an error that did nothing (``ratelimited``):
    it is posted again by the sweep, not dropped."""
    parts, run, refusing = untold
    refusing[0] = False
    clock.advance(parts.engine.stale_after + 3600)
    parts.engine.recover()
    parts.engine.recover()
    assert parts.publisher.named("run_failed") == [(run.thread_id, "ValueError: bad args", True)]


def test_a_failure_notice_waiting_out_its_backoff_is_no_error_at_each_sweep(db, clock, caplog):
    """While Slack keeps refusing the notice for now, each sweep finds it owed still: the one
    that tried says so in a line, those inside the backoff say nothing, none logs a traceback."""
    parts = engine_parts(db, clock, graph=FakeGraph(fail_with=ValueError("bad args")))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)

        def run_failed(*_args, **_kwargs):
            from graphs.outcomes import TryAgain

            raise TryAgain("ratelimited")

        parts.publisher.run_failed = run_failed
        parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
        clock.advance(parts.engine.stale_after + 1)
        caplog.clear()
        with caplog.at_level("INFO", logger="bot.core.run_ends"):
            for _ in range(3):
                parts.engine.recover()
        ours = [r for r in caplog.records if r.name == "bot.core.run_ends"]
        assert ours and all(r.levelname != "ERROR" and r.exc_info is None for r in ours), ours
        assert db.fetch_one("SELECT notice FROM runs WHERE thread_id = %(t)s", {"t": run.thread_id})
    finally:
        parts.close()


@pytest.mark.parametrize("then", ["retried", "failed-again"])
def test_a_notice_the_sweep_found_is_not_told_once_the_run_was_retried_meanwhile(
    untold, clock, then
):
    """The sweep lists an owed notice and hands it to the pool; before a worker gets to it the
    requester presses Retry (which no longer owes it), and the run may even fail again (owing
    a new one). The worker must not tell the old failure of a run that is running again (nor
    tell a second, stale failure beside the new one)."""
    parts, run, refusing = untold
    clock.advance(parts.engine.stale_after + 3600)
    handed: list[tuple[Any, ...]] = []
    parts.engine.sweeper.worker = Deferred(handed)  # the pool is busy for a while
    parts.engine.recover()  # the sweep lists the notice and hands it over
    assert handed
    assert parts.store.retry_run(run.thread_id, []) is not None  # Retry, meanwhile
    if then == "failed-again":
        parts.store.end_run(run.thread_id, "failed", "ValueError: again", [])
    refusing[0] = False
    for fn, *args in handed:  # the worker gets to it
        fn(*args)
    assert parts.publisher.named("run_failed") == []


class Deferred(InlineWorker):
    """A pool that takes work and runs none of it until the test does (``handed``)."""

    def __init__(self, handed: list[tuple[Any, ...]]) -> None:
        self.handed = handed

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        self.handed.append((fn, *args))
        return Future()


def test_a_failure_notice_slack_keeps_refusing_is_given_up_on_not_swept_forever(db, clock):
    """Slack refuses the notice every time (an archived channel): after the ledger's last try
    it is no longer owed, so the sweep stops trying it (and stops listing it ahead of others)."""
    parts = engine_parts(db, clock, graph=FakeGraph(fail_with=ValueError("bad args")))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        tries: list[str] = []

        def run_failed(*_args, **_kwargs):
            from graphs.outcomes import TryAgain

            tries.append("try")
            raise TryAgain("is_archived")

        parts.publisher.run_failed = run_failed
        parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
        for _ in range(MAX_ATTEMPTS + 3):
            clock.advance(parts.engine.stale_after + 3600)
            parts.engine.recover()
        assert len(tries) == MAX_ATTEMPTS
        assert parts.store.owed_notices(0) == []
    finally:
        parts.close()


def test_a_failure_that_owes_no_notice_keeps_the_one_an_earlier_failure_owes(db, clock):
    """Two requests on one run. The first's decision is given up on (``bad args``) and its run's
    failure notice is refused by Slack for now: owed. The second's decision then fails on an
    attempt that is not its last (the sweep tries it again; nobody is told of that): its
    failure owes no notice, and must not clear the one owed, or its requester is never told.
    A ``done`` end clears it (the run finished: nothing is owed of a failure before)."""
    parts = engine_parts(db, clock, graph=FakeGraph(interrupts=("i1", "i2"), fail_with=None))
    try:
        run = parts.start(requester="U0ASKER")
        first, second = parts.pending(run)
        refusing = refused_for_now(parts)
        parts.graph.fail_with = ValueError("bad args")
        parts.engine.decide(first.id, Decision("approve", "U0ASKER"))
        [(_, owed)] = parts.store.owed_notices(-1)
        clock.advance(1)
        parts.graph.fail_with = ConnectionError("model away")  # tried again: owes no notice
        parts.engine.decide(second.id, Decision("approve", "U0ASKER"))
        assert parts.store.get_run(run.thread_id).result == "ConnectionError: model away"
        assert [notice for _, notice in parts.store.owed_notices(-1)] == [owed]

        refusing[0] = False  # the sweep's worker, once Slack takes it: told, once
        clock.advance(parts.engine.stale_after + 3600)
        parts.engine.ends.tell_owed(parts.store.get_run(run.thread_id), owed)
        parts.engine.ends.tell_owed(parts.store.get_run(run.thread_id), owed)
        # ... with the error it owes the Retry to, not the later one the run's result now says
        told = parts.publisher.named("run_failed")
        assert [(thread, problem) for thread, problem, *_ in told] == [
            (run.thread_id, "ValueError: bad args")
        ]
        assert parts.store.owed_notices(-1) == []

        parts.store.end_run(run.thread_id, "failed", "ValueError: again", [], owed)
        parts.store.end_run(run.thread_id, "done", "All done.", [])
        parts.store.end_run(run.thread_id, "failed", "ConnectionError: later", [])
        assert parts.store.owed_notices(-1) == []  # the done end cleared it
    finally:
        parts.close()


def test_a_notice_written_without_its_error_reads_back_the_same_and_tells_the_run_s_result():
    """A notice as the first edition of migration 29's column held it (no error of its own)
    reads back to the very text it was stored as (the sweep's "still owed" check compares the
    text), and its error is then the run's result, as before."""
    old = '{"key": "r:failed:1.0", "decided": true, "attempts": 2}'
    notice = FailureNotice.from_json(old)
    assert notice == FailureNotice("r:failed:1.0", True, 2, "")
    assert notice.to_json() == old
    kept = FailureNotice("r:failed:1.0", True, 2, "ValueError: bad args")
    assert FailureNotice.from_json(kept.to_json()) == kept


def decided_on(db, clock, graph: FakeGraph) -> tuple[Any, Run | None]:
    """Engine parts on ``graph``, and its run once its request was approved (as it is now)."""
    parts = engine_parts(db, clock, graph=graph)
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
    return parts, parts.store.get_run(run.thread_id)


def test_a_step_failing_with_a_nul_character_fails_its_run_and_is_told(db, clock):
    """A step's error may quote anything (a model server's answer, a tool's output), a NUL
    character too, which PostgreSQL's text refuses: the run is failed all the same, its
    requester told, the character kept as U+FFFD (not a DataError on every sweep, the run
    never failed and nobody told)."""
    parts, failed = decided_on(db, clock, FakeGraph(fail_with=ValueError("bad\x00args")))
    try:
        assert failed is not None
        assert (failed.status, failed.result) == ("failed", "ValueError: bad\ufffdargs")
        [(_, said, _)] = parts.publisher.named("run_failed")
        assert "\x00" not in said
    finally:
        parts.close()


def test_a_report_quoting_a_nul_character_ends_its_run_done(db, clock):
    """A run's report is the graph's output (a model's text may hold a NUL character, which
    PostgreSQL's text refuses): the run ends done, its report kept with U+FFFD for it (not a
    run that did its work and then failed with a DataError)."""
    parts, ended = decided_on(db, clock, FakeGraph(stop_with="sent\x00to Ann"))
    try:
        assert ended is not None
        assert (ended.status, ended.result) == ("done", "sent\ufffdto Ann")
    finally:
        parts.close()
