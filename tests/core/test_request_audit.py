"""A new request and a vote, each with its audit row, on both real databases: the request is
recorded (bot.core.asking) in the transaction that writes its ``requested`` row, and a vote
among several (bot.core.deciding) is counted in the transaction that writes its ``voted`` row,
so no crash or lost connection between the two leaves one without the other. Before, the row
was written afterwards: a crash in between left a request (found again, so recorded once) or a
counted vote that ``python -m bot audit`` never showed. And a Retry that meets a request whose
card was refused meanwhile, which needs no row beyond its ``retried`` one."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core import outcomes
from bot.domain.models import Decision, RunRequest
from bot.domain.signoff import Stage
from tests.support import audit_refusals
from tests.support.audit_refusals import exported
from tests.support.statements import counting
from tests.support.units import engine_parts, losing


def new_run(parts, thread: str = "t" * 32):
    request = RunRequest("draft", "draft a note", "U0ASKER", "C0ASK", "C0CARDS")
    return parts.store.create_run(thread, request)


def trail(db_url: str, thread_id: str, *kinds: str) -> list[tuple[str, str, str]]:
    return [
        (e["event"], e["actor"], e["request"])
        for e in exported(db_url, thread_id)
        if e["event"] in kinds
    ]


def test_a_request_is_not_recorded_without_its_requested_row(parts, db, db_url):
    run = new_run(parts)
    with audit_refusals.refusing(db, "requested"), pytest.raises(Exception, match="refused"):
        parts.engine.asker.publish(run, parts.graph.waiting())
    # Neither the request nor its row: the step fails, and is run again.
    assert parts.store.run_approvals(run.thread_id) == []
    assert parts.publisher.named("post") == []

    parts.engine.asker.publish(run, parts.graph.waiting())
    parts.engine.asker.publish(run, parts.graph.waiting())  # again (the sweep): found, not new
    [approval] = parts.store.run_approvals(run.thread_id)
    assert trail(db_url, run.thread_id, "requested") == [("requested", "bot", approval.id)]
    assert [e["detail"] for e in exported(db_url, run.thread_id)] == [{"kind": "draft"}]
    assert len(parts.publisher.named("post")) == 1


def test_a_request_whose_answer_was_lost_has_one_requested_row(parts, db_url):
    run = new_run(parts)
    asker = replace(parts.engine.asker, store=losing(parts.db, parts.clock, "add_approval"))

    asker.publish(run, parts.graph.waiting())
    asker.publish(run, parts.graph.waiting())

    [approval] = parts.store.run_approvals(run.thread_id)
    assert trail(db_url, run.thread_id, "requested") == [("requested", "bot", approval.id)]


def test_a_vote_is_not_counted_without_its_voted_row(pair, db, db_url):
    [approval] = pair.pending(pair.start(requester="U0ASKER"))
    with audit_refusals.refusing(db, "voted"), pytest.raises(Exception, match="audit refused"):
        pair.engine.decide(approval.id, Decision("approve", "U0ANN"))
    assert pair.store.votes(approval.id) == []
    assert trail(db_url, approval.thread_id, "voted") == []

    counted = pair.engine.decide(approval.id, Decision("approve", "U0ANN"))
    assert isinstance(counted, outcomes.VoteRecorded) and counted.ballot == "counted"
    twice = pair.engine.decide(approval.id, Decision("approve", "U0ANN"))
    assert isinstance(twice, outcomes.VoteRecorded) and twice.ballot == "duplicate"
    assert trail(db_url, approval.thread_id, "voted") == [("voted", "U0ANN", approval.id)]
    [voted] = [e for e in exported(db_url, approval.thread_id) if e["event"] == "voted"]
    assert voted["detail"] == {"vote": "approve", "version": 1, "via": "slack"}


def test_the_vote_that_settles_a_request_is_its_decision_not_a_voted_row(pair, db_url, clock):
    [approval] = pair.pending(pair.start(requester="U0ASKER"))
    pair.engine.decide(approval.id, Decision("approve", "U0ANN"))
    clock.advance(1)
    assert isinstance(
        pair.engine.decide(approval.id, Decision("approve", "U0BOB")), outcomes.Applied
    )
    assert trail(db_url, approval.thread_id, "voted", "approved") == [
        ("voted", "U0ANN", approval.id),
        ("approved", "U0BOB", approval.id),
    ]


def test_a_vote_counted_just_before_another_settled_it_has_its_voted_row(db, db_url, clock):
    """U0ANN's vote is counted; before her click reads the request back, U0BOB's vote settles
    it (she is told it was decided meanwhile). Her vote counted all the same: its row is there."""
    parts = engine_parts(db, clock, stage=Stage(approvers=("U0ANN", "U0BOB"), quorum=2))
    try:
        [approval] = parts.pending(parts.start(requester="U0ASKER"))
        get_approval, vote = parts.store.get_approval, parts.store.vote
        raced: list[object] = []

        def read_back(approval_id: str, quick: bool = False):
            parts.store.get_approval = get_approval  # type: ignore[method-assign]
            clock.advance(1)
            raced.append(parts.engine.decide(approval.id, Decision("approve", "U0BOB")))
            return get_approval(approval_id, quick)

        def and_then(*args, **kwargs):
            parts.store.vote = vote  # type: ignore[method-assign]
            ballot = vote(*args, **kwargs)
            parts.store.get_approval = read_back  # type: ignore[method-assign]
            return ballot

        parts.store.vote = and_then  # type: ignore[method-assign]
        first = parts.engine.decide(approval.id, Decision("approve", "U0ANN"))
        assert isinstance(first, outcomes.DecidedMeanwhile), first
        assert isinstance(raced[0], outcomes.Applied)
        assert trail(db_url, approval.thread_id, "voted", "approved") == [
            ("voted", "U0ANN", approval.id),
            ("approved", "U0BOB", approval.id),
        ]
    finally:
        parts.close()


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_on_postgres_a_vote_and_its_row_are_one_transaction_and_no_more_statements(pair):
    """The vote's transaction writes its row: nothing after its COMMIT writes the audit, and the
    vote costs no more statements than it did with the row written apart (13)."""
    [approval] = pair.pending(pair.start(requester="U0ASKER"))
    with counting() as statements:
        statements.recording = True
        pair.engine.decide(approval.id, Decision("approve", "U0ANN"))
        statements.recording = False
    sent = statements.ours
    commits = [i for i, sql in enumerate(sent) if sql.startswith("COMMIT")]
    audits = [i for i, sql in enumerate(sent) if "INSERT INTO audit" in sql]
    assert len(audits) == 1 and commits and audits[0] < commits[-1], statements.report()
    assert len(sent) <= VOTE_STATEMENTS, statements.report()


VOTE_STATEMENTS = 13


def test_a_retry_that_meets_a_card_refused_meanwhile_ends_its_trail_failed(db, db_url, clock):
    """A Retry checks that no card of the run was refused, and Slack refuses one for good just
    after (the card sweep). The Retry moves the run on (its ``retried`` row says who pressed
    it), and its step, meeting the refused request, fails the run again: the trail says so
    after the Retry, with the refusal's reason, so it does not end on ``retried`` while the
    run is failed."""
    parts = engine_parts(db, clock)
    try:
        parts.publisher.post_as = "retry"  # not posted for now: the sweep tries again
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        parts.engine.ends.failed(run, RuntimeError("model down"))  # a step that failed
        clock.advance(1)
        retry_run = parts.store.retry_run

        def refused_meanwhile(*args, **kwargs):
            reason = "The approval card could not be posted: Slack answered channel_not_found."
            events = parts.engine.journal.card_refused_entries(
                approval, "channel_not_found", reason
            )
            assert parts.store.card_refused(approval.id, reason, events) is not None
            clock.advance(1)
            return retry_run(*args, **kwargs)

        parts.store.retry_run = refused_meanwhile  # type: ignore[method-assign]
        assert parts.control.retry(run.thread_id, "U0ASKER").kind == outcomes.RetryKind.RETRYING
        assert parts.store.get_run(run.thread_id).status == "failed"
        ends = [
            (e["event"], e["detail"].get("error", e["actor"]))
            for e in exported(db_url, run.thread_id)
            if e["event"] in ("failed", "card_refused", "retried", "done")
        ]
        assert ends == [
            ("failed", "RuntimeError: model down"),
            ("card_refused", "channel_not_found"),
            ("failed", "The approval card could not be posted: Slack answered channel_not_found."),
            ("retried", "U0ASKER"),
            ("failed", "The approval card could not be posted: Slack answered channel_not_found."),
        ]
    finally:
        parts.close()
