"""A card Slack refuses for good (bot.slack.card_posts), and a card post that fails for now, on
both real databases: the request's close, its run's failure and their audit rows
(``card_refused``, ``failed``) are one statement (PostgreSQL) or transaction (SQLite), and so
are a failed try's count and its ``card_retry`` row, so no crash or lost connection between
them leaves a failed run, or a try counted, with no row for it."""

from __future__ import annotations

import pytest

from tests.support.audit_refusals import exported, refusing
from tests.support.statements import counting


def given_up(parts, error: str = "is_archived") -> float:
    line = f'approval_cards_given_up_total{{error="{error}"}} '
    for text in parts.metrics.exposition().decode().splitlines():
        if text.startswith(line):
            return float(text.split()[-1])
    return 0.0


def dms(fake_slack, user: str = "U0ASKER") -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if c.params["channel"] == user]


def tries(db, approval) -> tuple[int, float]:
    """A request's failed tries so far and when its card is next due."""
    sql = "SELECT card_attempts, card_due_at FROM approvals WHERE id = %(id)s"
    row = db.fetch_one(sql, {"id": approval.id})
    return int(row["card_attempts"]), float(row["card_due_at"])


def refused(parts, fake_slack):
    """A run waiting on a request whose card Slack will refuse (the channel is archived)."""
    run = parts.run(requester="U0ASKER")
    approval = parts.request(run)
    fake_slack.set_channel("C0CARDS", archived=True)
    return run, approval


def test_a_refused_card_leaves_one_card_refused_and_one_failed_row_in_the_exported_audit(
    parts, fake_slack, db_url
):
    run, approval = refused(parts, fake_slack)
    assert parts.card_posts.post(approval) == "refused"

    assert parts.approval(approval.id).status == "failed"
    failed = parts.store.get_run(run.thread_id)
    assert failed.status == "failed" and "is_archived" in failed.result
    trail = sorted(
        (e["event"], e["actor"], e["request"], e["detail"]) for e in exported(db_url, run.thread_id)
    )
    assert trail == [
        ("card_refused", "bot", approval.id, {"attempt": 1, "error": "is_archived"}),
        ("failed", "bot", "", {"error": failed.result}),
    ]
    assert given_up(parts) == 1.0
    assert len(dms(fake_slack)) == 1


@pytest.mark.parametrize("event", ["card_refused", "failed"])
def test_a_card_refusal_is_not_recorded_without_its_audit_rows(parts, fake_slack, db, clock, event):
    run, approval = refused(parts, fake_slack)
    with refusing(db, event):
        # Taken for what it is (refused), though the database did not record it (logged).
        assert parts.card_posts.post(approval) == "refused"
        # Nothing of it: the request is pending without a card (the sweep's again), the run
        # as it was, no row; nobody counted or told.
        left = parts.approval(approval.id)
        assert left.pending and left.ts is None and left.card_attempts == 0
        assert parts.store.get_run(run.thread_id).status == run.status
        assert parts.card_posts.journal.audit.for_run(run.thread_id) == []
        assert all(job.status == "pending" for job in parts.store.jobs_for(approval.id))
        assert given_up(parts) == 0.0
        assert dms(fake_slack) == []

    clock.advance(61)
    assert parts.card_posts.sweep(older_than=60) == {"refused": 1}
    assert parts.approval(approval.id).status == "failed"
    assert parts.store.get_run(run.thread_id).status == "failed"
    rows = [e.event for e in parts.card_posts.journal.audit.for_run(run.thread_id)]
    assert sorted(rows) == ["card_refused", "failed"]
    assert given_up(parts) == 1.0
    assert len(dms(fake_slack)) == 1


def test_a_failed_try_is_not_counted_without_its_card_retry_row(parts, fake_slack, db, clock):
    approval = parts.request(parts.run())
    fake_slack.fail_next("chat.postMessage", status=503, error="unavailable", times=2)
    never_tried = tries(db, approval)
    with refusing(db, "card_retry"):
        assert parts.card_posts.post(approval) == "retry"
        assert tries(db, approval) == never_tried
        assert parts.card_posts.journal.audit.for_run(approval.thread_id) == []

    assert parts.card_posts.post(approval) == "retry"
    assert tries(db, approval) == (1, clock() + 30.0)  # no jitter: the tick
    [row] = parts.card_posts.journal.audit.for_run(approval.thread_id)
    assert (row.event, row.approval_id, row.detail["attempt"]) == ("card_retry", approval.id, 1)


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_on_postgres_a_card_refusal_and_its_audit_rows_are_one_statement(parts, fake_slack):
    """Nothing can come between them: not a crash, not a lost connection."""
    run, approval = refused(parts, fake_slack)
    written = _the_one_write(parts, approval, "refused")
    for part in ("UPDATE approvals", "UPDATE jobs", "UPDATE runs", "INSERT INTO audit"):
        assert part in written, written
    events = sorted(e.event for e in parts.card_posts.journal.audit.for_run(run.thread_id))
    assert events == ["card_refused", "failed"]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_on_postgres_a_failed_try_and_its_card_retry_row_are_one_statement(parts, fake_slack):
    approval = parts.request(parts.run())
    fake_slack.fail_next("chat.postMessage", status=503, error="unavailable")
    written = _the_one_write(parts, approval, "retry")
    assert "UPDATE approvals" in written and "INSERT INTO audit" in written


def _the_one_write(parts, approval, outcome: str) -> str:
    """The one statement the post of ``approval``'s card sent from the request's first write
    on (the post read before it), but the ledger's of the requester's DM (``effects``)."""
    with counting() as statements:
        statements.recording = True
        assert parts.card_posts.post(approval) == outcome
        statements.recording = False
    sent = [sql for sql, _ in statements.sent]
    first = next((n for n, sql in enumerate(sent) if "UPDATE approvals" in sql), len(sent))
    writes = [sql for sql in sent[first:] if "effects" not in sql]
    assert len(writes) == 1, statements.report()
    return writes[0]
