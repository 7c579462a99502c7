"""A reminder (alone or in a digest) and an escalation (bot.slack.scheduler), on both real
databases: the job marked done and its ``reminded`` or ``escalated`` row are one statement
(PostgreSQL) or transaction (SQLite), so no crash or lost connection between them leaves a job
done with no row for what it sent. Without its row, the job is not done: it is sent again once
its lease (a reminder) or its backoff (an escalation) has passed, as after a crash before its
``done`` mark, then done with one row."""

from __future__ import annotations

import pytest

from bot.domain.timeline import Level, Policy
from tests.support.audit_refusals import refusing
from tests.support.statements import counting

LEASE = 120.0  # the Scheduler's: a job taken and not done is taken again once it has passed


def rows(s, approval, event: str) -> list[dict]:
    events = s.parts.engine.journal.audit.for_run(approval.thread_id)
    return [e.detail for e in events if e.event == event and e.approval_id == approval.id]


def statuses(s, approval) -> list[str]:
    return [job.status for job in s.parts.store.jobs_for(approval.id)]


def test_a_reminder_is_not_done_without_its_reminded_row(build, clock, fake_slack, db):
    s = build(Policy(remind_after=600, expire_after=None))
    _, approval = s.start()
    clock.advance(601)
    with refusing(db, "reminded"):
        with pytest.raises(Exception, match="audit refused"):
            s.scheduler.tick()
        assert statuses(s, approval) == ["pending"] and rows(s, approval, "reminded") == []

    clock.advance(LEASE + 1)
    assert s.scheduler.tick() == 1
    assert statuses(s, approval) == ["done"] and rows(s, approval, "reminded") == [{}]
    assert len(fake_slack.replies(approval.channel, approval.ts)) == 2  # sent again


def test_a_digest_s_reminders_are_not_done_without_their_reminded_rows(
    build, clock, fake_slack, db
):
    s = build(Policy(remind_after=600, expire_after=None))
    _, first = s.start(requester="U0ANN")
    _, second = s.start(requester="U0BOB")
    clock.advance(601)
    with refusing(db, "reminded"):
        with pytest.raises(Exception, match="audit refused"):
            s.scheduler.tick()
        for approval in (first, second):
            assert statuses(s, approval) == ["pending"] and rows(s, approval, "reminded") == []

    clock.advance(LEASE + 1)
    assert s.scheduler.tick() == 2
    for approval in (first, second):
        assert statuses(s, approval) == ["done"] and rows(s, approval, "reminded") == [{}]


def test_an_escalation_is_not_done_without_its_escalated_row(build, clock, fake_slack, db):
    level = Level(after=600, to=("U0ONCALL",), channel="C0ESC")
    s = build(Policy(remind_after=None, expire_after=None, levels=(level,)))
    _, approval = s.start()
    clock.advance(601)
    with refusing(db, "escalated"):
        assert s.scheduler.tick() == 1  # failed, put back as a failed Slack call is
        assert statuses(s, approval) == ["pending"] and rows(s, approval, "escalated") == []

    clock.advance(LEASE + 1)
    assert s.scheduler.tick() == 1
    assert statuses(s, approval) == ["done"]
    assert rows(s, approval, "escalated") == [{"level": 0}]  # the first level (job.level)
    card = fake_slack.message(approval.channel, approval.ts)
    assert "Escalated to <@U0ONCALL> (level 1)" in str(card["blocks"])


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("kind", ["remind", "digest", "escalate"])
def test_on_postgres_a_job_s_done_mark_and_its_audit_rows_are_one_statement(build, clock, kind):
    level = Level(after=600, to=("U0ONCALL",), channel="C0ESC")
    levels = (level,) if kind == "escalate" else ()
    s = build(Policy(remind_after=None if levels else 600, expire_after=None, levels=levels))
    s.start(requester="U0ANN")
    if kind == "digest":
        s.start(requester="U0BOB")
    clock.advance(601)
    with counting() as statements:
        statements.recording = True
        assert s.scheduler.tick() == (2 if kind == "digest" else 1)
        statements.recording = False
    audited = [sql for sql, _ in statements.sent if "INSERT INTO audit" in sql]
    assert len(audited) == 1, statements.report()
    assert "UPDATE jobs SET status" in audited[0], statements.report()
