"""An effect's try and its ``effect`` audit row (bot.core.ledger, bot.core.effect_trail), on
both real databases: a try worth a look (a retry and its wait, an outcome unknown, a refusal,
giving up, a success after retries) is written to the effects ledger in the same statement
(PostgreSQL) or transaction (SQLite) as its audit row, so no crash or lost connection between
the two leaves an "outcome unknown" that ``python -m bot audit`` never shows."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from bot.agents.langgraph_server import server_thread
from bot.core.effect_trail import EffectTrail
from bot.core.ledger import EffectRetry, Ledger
from bot.domain.models import Decision, EffectDone
from bot.store.audit_log import Audit
from graphs.outcomes import OutcomeUnknown, TryAgain
from tests.support import audit_refusals
from tests.support.audit_refusals import exported
from tests.support.statements import counting

THREAD = "e" * 32
KEY = f"{THREAD}:execute"


def wired(db, clock) -> tuple[Ledger, CollectorRegistry]:
    """The ledger and its trail as bot.wiring builds them."""
    registry = CollectorRegistry()
    trail = EffectTrail(registry)
    return Ledger(db, clock, observe=trail, audited=trail.entry), registry


def fails(exc: Exception):
    def effect() -> str:
        raise exc

    return effect


def effects(db_url: str) -> list[tuple[int, str]]:
    return [
        (e["detail"]["attempt"], e["detail"]["outcome"])
        for e in exported(db_url, THREAD)
        if e["event"] == "effect"
    ]


def state(db) -> dict[str, Any]:
    row = db.fetch_one("SELECT status, attempts FROM effects WHERE key = %(key)s", {"key": KEY})
    assert row is not None
    return dict(row)


def test_each_try_worth_a_look_has_one_effect_row_and_is_counted(db, db_url, clock):
    ledger, registry = wired(db, clock)
    with pytest.raises(EffectRetry):
        ledger.once(KEY, fails(TryAgain("ratelimited")))
    clock.advance(3600)
    assert ledger.once(KEY, lambda: "posted") == "posted"
    assert effects(db_url) == [(1, "retry"), (2, "done")]
    assert registry.get_sample_value("effect_tries_total", {"outcome": "retry"}) == 1.0
    assert registry.get_sample_value("effect_tries_total", {"outcome": "done"}) == 1.0


def test_a_success_after_retries_written_by_its_caller_carries_its_row(db, db_url, clock):
    """The report's "done" is written with the run's end (``done``): its row goes with it."""
    ledger, _ = wired(db, clock)
    with pytest.raises(EffectRetry):
        ledger.once(KEY, fails(TryAgain("ratelimited")))
    clock.advance(3600)
    handed: list[EffectDone] = []
    assert ledger.once(KEY, lambda: "posted", done=handed.append) == "posted"
    assert effects(db_url) == [(1, "retry")]  # not yet: its caller writes it
    [done] = handed
    assert [(e.event, e.detail["attempt"], e.detail["outcome"]) for e in ledger.entries(done)] == [
        ("effect", 2, "done")
    ]


@pytest.mark.parametrize(
    ("effect", "outcome"),
    [(fails(OutcomeUnknown("timed out")), "unknown"), (fails(TryAgain("later")), "retry")],
    ids=["unknown", "retry"],
)
def test_a_try_is_not_written_without_its_effect_row(db, clock, effect, outcome):
    ledger, registry = wired(db, clock)
    with audit_refusals.refusing(db, "effect"), pytest.raises(Exception, match="audit refused"):
        ledger.once(KEY, effect)
    # Neither the try's end nor its row: the ledger still says "started", as after a crash
    # mid-call (the effect ran, or may have: it is never repeated), and nothing was counted.
    assert state(db) == {"status": "started", "attempts": 1}
    assert db.fetch_all("SELECT * FROM audit") == []
    assert registry.get_sample_value("effect_tries_total", {"outcome": outcome}) is None


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_on_postgres_a_try_s_end_and_its_row_are_one_statement(db, clock):
    ledger, _ = wired(db, clock)
    with counting() as statements:
        statements.recording = True
        ledger.once(KEY, fails(OutcomeUnknown("timed out")))
        statements.recording = False
    ends = [sql for sql, _ in statements.sent if "UPDATE effects" in sql or "audit" in sql]
    assert len(ends) == 1, statements.report()
    assert "UPDATE effects" in ends[0] and "INSERT INTO audit" in ends[0]


def test_a_report_posted_after_retries_has_its_effect_row_with_the_run_s_end(parts, db_url):
    """The decision's report is the run's last effect: Slack refused it for now, the sweep
    posts it; its "done" after retries is written with the run's end, and its row with it."""
    report = parts.publisher.report
    refusals = [TryAgain("ratelimited")]

    def refused_once(*args, **kwargs):
        if refusals:
            raise refusals.pop()
        return report(*args, **kwargs)

    parts.publisher.report = refused_once  # type: ignore[method-assign]
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
    assert parts.store.get_run(run.thread_id).status != "done"

    parts.clock.advance(3600)
    parts.engine.recover()
    assert parts.store.get_run(run.thread_id).status == "done"
    trail = [
        (e["event"], e["detail"].get("outcome"), e["detail"].get("attempt"))
        for e in exported(db_url, run.thread_id)
        if e["event"] in ("effect", "executed", "done")
    ]
    assert trail == [
        ("effect", "retry", 1),
        ("executed", None, None),  # the decision applied, its report left for the sweep
        ("effect", "done", 2),
        ("done", None, None),
    ]


@pytest.mark.parametrize("fenced_out", [False, True], ids=["applied", "fenced-out"])
def test_a_success_after_retries_handed_to_close_apply_is_written_with_its_row(
    parts, db_url, fenced_out
):
    """A decision's report posted after retries within the decision's own apply: its "done"
    and its row are written with the decision's close, whatever the fence says (the report
    was posted either way)."""
    ledger = parts.engine.ledger
    run = parts.start(requester="U0ASKER")
    [approval] = parts.pending(run)
    key = f"{run.thread_id}:report"
    with pytest.raises(EffectRetry):
        ledger.once(key, fails(TryAgain("ratelimited")))
    parts.clock.advance(3600)
    handed: list[EffectDone] = []
    ledger.once(key, lambda: "posted", done=handed.append)
    [effect] = handed
    fence = parts.store.count_apply(approval.id).fence - (1 if fenced_out else 0)
    done = [parts.engine.journal.done_entry(run)]
    closed = parts.store.close_apply(
        approval.id, fence, "done", "report", done, effect, ledger.entries(effect)
    )
    assert closed is not fenced_out
    tries = [
        (e["event"], e["detail"].get("outcome", ""))
        for e in exported(db_url, run.thread_id)
        if e["event"] in ("effect", "done")
    ]
    closing = [] if fenced_out else [("done", "")]
    assert tries[0] == ("effect", "retry")
    assert sorted(tries[1:]) == sorted([("effect", "done"), *closing])  # written at one time


def test_a_refusal_quoting_a_nul_character_is_recorded_as_refused(db, db_url, clock):
    """A mail server's refusal is quoted (graphs.outcomes.smtp_refusal), and a server may put a
    NUL character in it: PostgreSQL text takes none. The refusal is still recorded as one (not
    left "started", an outcome unknown at the next try), with its row, and its caller gets a
    text its run can keep (the run's report and result are text too)."""
    import smtplib

    from graphs.outcomes import Declined, smtp_refusal

    answer = smtplib.SMTPRecipientsRefused({"ann@example.com": (550, b"no such\x00user")})
    refusal = smtp_refusal(answer)
    assert refusal is not None and "\x00" in refusal
    ledger, _ = wired(db, clock)

    failure = ledger.once(KEY, fails(Declined(refusal)))

    assert "\x00" not in failure and "no such" in failure and "user" in failure
    assert state(db) == {"status": "failed", "attempts": 1}
    assert effects(db_url) == [(1, "refused")]
    assert ledger.once(KEY, lambda: "sent") == failure  # said once: never tried again


def test_a_request_s_effect_is_in_its_run_s_audit_trail(parts, approval, db_url, clock):
    """Some effects are keyed by their request, not their run ("<request>:where",
    "<request>:by-rule", "<request>:refused:<n>"): their tries are in the run's trail
    (``python -m bot audit --run``), as a run-keyed effect's are, not under the request's id."""
    ledger, _ = wired(parts.db, clock)
    key = f"{approval.id}:where"
    with pytest.raises(EffectRetry):
        ledger.once(key, fails(TryAgain("ratelimited")))

    rows = [e for e in exported(db_url, approval.thread_id) if e["event"] == "effect"]
    assert [(e["detail"]["key"], e["detail"]["outcome"]) for e in rows] == [(key, "retry")]


def test_an_effect_of_a_graph_on_a_langgraph_server_is_in_its_run_s_audit_trail(db, db_url, clock):
    """On a LangGraph Server a graph's thread id is the server's (the run's id as a UUID with
    dashes, bot.agents.langgraph_server.server_thread), so its effect keys start with that:
    their tries are in the run's trail all the same (``python -m bot audit --run``)."""
    ledger, _ = wired(db, clock)
    key = f"{server_thread(THREAD)}:execute"
    with pytest.raises(EffectRetry):
        ledger.once(key, fails(TryAgain("ratelimited")))

    shown = [e for e in Audit(db, clock).for_run(THREAD) if e.event == "effect"]  # /agent audit
    assert [e.detail["key"] for e in shown] == [key]
    assert effects(db_url) == [(1, "retry")]


def test_a_result_holding_a_nul_character_is_the_same_at_every_call_of_its_key(db, clock):
    """A key that finished returns its recorded result: its first call too, so a graph's node
    run again (a resume re-runs it from its start) gets what it got the first time, not the
    text with U+FFFD where the first call had a NUL character. So does a success handed to its
    caller to write (``done``): what it returns is what the caller writes."""
    ledger, _ = wired(db, clock)
    first = ledger.once(KEY, lambda: "sent\x00ok")
    assert ledger.once(KEY, lambda: "sent again") == first

    handed: list[EffectDone] = []
    given = ledger.once(f"{THREAD}:report", lambda: "posted\x00", done=handed.append)
    assert [finished.result for finished in handed] == [given]


def test_a_success_whose_result_holds_a_nul_character_is_recorded_done(db, clock):
    """An effect's result is the action's own text (a graph's own action may return what the
    other side said, a NUL character too): the success is recorded done, never left "started"
    (an outcome unknown at the next try) because PostgreSQL's text refused it."""
    ledger, _ = wired(db, clock)

    assert ledger.once(KEY, lambda: "sent\x00ok") == "sent\ufffdok"

    assert state(db) == {"status": "done", "attempts": 1}
    assert ledger.once(KEY, lambda: "sent again") == "sent\ufffdok"  # done: never run again
