"""The statement budget of a decision (issue 21): what one plain Approve on PostgreSQL sends the
database, counted at the psycopg level (tests/support/statements.py), from the click's HTTP
request to its run's report in Slack.

Ours are 6: the click recorded before the ack, already taken by the process that received it
(read back with its request and expiry in the same statement); the run's lock taken; under it,
the claim (jobs, audit event and click closed with it) with the first attempt at applying
counted and the request, the run and the latest card read back; the report's effect started;
the decision applied with the report's effect, the run's end and its audit events; the lock
given back. (Before issue 21: 27, and 4 more for the lock when it was waited for; 8 until the
take went into the record and the claim into the attempt.) Apart from ours: the graph's own
effect (the draft's post: "started", then "done", through the ledger) and LangGraph's
checkpointer (reading the thread once, writing the step), whose counts are pinned here too so
that a change in either is seen."""

from __future__ import annotations

import psycopg
import pytest

from bot.slack.blocks import card as card_ids
from bot.store.db.postgres import PostgresDatabase
from bot.store.repository import Store
from tests.support import databases
from tests.support.cards import wait_card
from tests.support.statements import Statements, counting

OURS = 6  # issue 21's budget was 8; today's count
GRAPH = 2  # the draft's one post: its ledger entry started, then done
CHECKPOINTER = 8  # LangGraph's PostgresSaver: 1 read, 7 writes (langgraph 1.2)


def approve_counted(bot_in_process, fake_slack) -> Statements:
    with counting() as statements:
        bot = bot_in_process()
        bot.command("Draft an announcement that the VPN is down tonight")
        card = wait_card(fake_slack)
        bot.settle()

        statements.recording = True
        assert bot.click(card_ids.APPROVE, card.approval_id, "U0REQ").status_code == 200
        fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
        bot.settle()
        statements.recording = False
    shown = str(fake_slack.calls("chat.update")[-1].params)
    assert "*Approved* by <@U0REQ>" in shown
    return statements


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_plain_approve_stays_within_its_statement_budget(bot_in_process, fake_slack):
    statements = approve_counted(bot_in_process, fake_slack)
    assert len(statements.ours) <= OURS, statements.report()
    assert len(statements.graphs) <= GRAPH, statements.report()
    assert len(statements.checkpointer) <= CHECKPOINTER, statements.report()


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_plain_approve_reads_no_index_of_every_pending_job(
    bot_in_process, fake_slack, database_url
):
    """The decision reads and closes its own request's jobs by request, never through the
    index of every pending job (the tick's): on a new database, before PostgreSQL has
    statistics, the planner took that index too and walked every waiting request's reminders
    and expiry, twice a click (the click's overdue expiry, the claim's closing)."""
    statements = approve_counted(bot_in_process, fake_slack)
    with psycopg.connect(database_url, autocommit=True) as conn:
        plans = [
            (sql, str(conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()))
            for sql, params in statements.sent
            if sql.lstrip().upper().startswith(("WITH", "SELECT", "UPDATE", "INSERT", "DELETE"))
            and "jobs" in sql
        ]
    assert plans, statements.report()
    for sql, plan in plans:
        assert "jobs_due" not in plan, f"{sql}\n{plan}"


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_one_statement_more_on_the_decision_path_breaks_the_budget(
    bot_in_process, fake_slack, monkeypatch
):
    """The budget can fail: a read of the run added under the lock is counted against it."""
    claim_begin = Store.claim_begin

    def with_a_read_more(self: Store, approval_id: str, decision, closing, alone=False):
        start = claim_begin(self, approval_id, decision, closing, alone)
        if start is not None:
            self.get_run(start.run.thread_id)
        return start

    monkeypatch.setattr(Store, "claim_begin", with_a_read_more)
    statements = approve_counted(bot_in_process, fake_slack)
    assert len(statements.ours) == OURS + 1, statements.report()


def test_the_count_sees_every_kind_of_round_trip(postgres_url):
    """Single statements, a transaction's BEGIN and COMMIT, and the run lock's try and unlock."""
    db = PostgresDatabase(postgres_url)
    try:
        with counting() as statements:
            statements.recording = True
            db.execute("SELECT 1")
            db.fetch_one("SELECT 2 AS two")
            with db.transaction() as tx:
                tx.execute("SELECT 3")
                tx.fetch_all("SELECT 4")
            with db.key_lock("a-thread"):
                pass
            statements.recording = False
    finally:
        db.close()
    assert len(statements.ours) == 8, statements.report()


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_the_card_shows_the_decision_before_its_effect_lands(bot_in_process, fake_slack):
    """The card is redrawn beside the resume (issue 21), not before it; the draft's post, the
    decision's effect, still waits for it, and the report comes after both."""
    bot = bot_in_process()
    bot.command("Draft an announcement that the VPN is down tonight")
    card = wait_card(fake_slack)
    bot.settle()
    before = len(fake_slack.calls())
    assert bot.click(card_ids.APPROVE, card.approval_id, "U0REQ").status_code == 200
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    bot.settle()
    after = [c for c in fake_slack.calls()[before:] if c.method != "chat.postEphemeral"]
    kinds = [
        "card" if c.method == "chat.update" else "report" if c.params.get("thread_ts") else "draft"
        for c in after
    ]
    assert kinds == ["card", "draft", "report"], [(c.method, c.params) for c in after]
    assert "*Approved* by <@U0REQ>" in str(after[0].params)


def test_the_last_tests_database_made_new_meanwhile_is_not_counted(postgres_url):
    """CI once counted the TRUNCATE that made the previous test's database new again, run on
    the test databases' own thread while this one counted: it is nobody's click."""

    def housekeeping() -> None:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute("SELECT 0")

    db = PostgresDatabase(postgres_url)
    try:
        with counting() as statements:
            statements.recording = True
            databases._drops.submit(housekeeping).result()
            db.execute("SELECT 1")
            statements.recording = False
    finally:
        db.close()
    assert statements.ours == ["SELECT 1"], statements.report()
