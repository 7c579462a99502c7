"""A Retry and its ``retried`` audit row, on both real databases: a person's Retry of a failed
run (bot.core.run_control) is written in the transaction that sets the run running again
(``RunRows.retry_run``), so ``python -m bot audit`` says who retried it and when, and never a
retry without its row or a row without its retry. A Retry that did nothing (refused, replayed,
on a run that had not failed) writes none."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core import outcomes
from bot.core.outcomes import RetryKind
from bot.core.run_control import RunControl
from bot.domain.models import Decision, Run
from tests.support import audit_refusals
from tests.support.audit_refusals import exported
from tests.support.units import EngineParts, FakeGraph, engine_parts


@pytest.fixture
def failed(db, clock):
    """A run whose decision failed (``model down``), the graph fixed since: ``(parts, run)``."""
    parts = engine_parts(db, clock, graph=FakeGraph(fail_with=RuntimeError("model down")))
    try:
        run = parts.start(requester="U0ASKER")
        [approval] = parts.pending(run)
        parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
        assert parts.store.get_run(run.thread_id).status == "failed"
        parts.graph.fail_with = None
        clock.advance(5)
        yield parts, run
    finally:
        parts.close()


def control(parts: EngineParts) -> RunControl:
    """The run control as wired: its requester (and nobody else here) may retry a run."""
    return replace(parts.control, may_manage=lambda run, user: user == run.requester)


def press(parts: EngineParts, run: Run, user: str):
    """``user``'s Retry click on ``run``, recorded and taken as the listener does: the click."""
    received = parts.store.receive_retry(run.thread_id, Decision("retry", user), "C0ASK", 30.0)
    return parts.store.received_click(received)


def retried_rows(db_url: str, run: Run) -> list[tuple[str, str, dict]]:
    return [
        (e["actor"], e["request"], e["detail"])
        for e in exported(db_url, run.thread_id)
        if e["event"] == "retried"
    ]


def test_a_retry_click_has_a_retried_row_naming_who_pressed_it(failed, db_url, clock):
    parts, run = failed
    retried = control(parts).retried(press(parts, run, "U0ASKER"))
    assert retried == outcomes.Retry(RetryKind.RETRYING, run.thread_id)
    assert parts.store.get_run(run.thread_id).status == "done"

    trail = exported(db_url, run.thread_id)
    [row] = [e for e in trail if e["event"] == "retried"]
    assert (row["actor"], row["request"], row["detail"]) == ("U0ASKER", "", {"via": "slack"})
    assert row["at"] == clock()
    kinds = [e["event"] for e in trail if e["event"] in ("failed", "retried", "executed", "done")]
    assert kinds == ["failed", "retried", "executed", "done"]


@pytest.mark.parametrize("why", ["not-theirs", "not-failed", "replayed", "card-refused"])
def test_a_retry_that_did_nothing_has_no_retried_row(db, db_url, clock, why):
    graph = FakeGraph(fail_with=RuntimeError("model down"))
    parts = engine_parts(db, clock, graph=graph)
    try:
        if why == "card-refused":
            parts.publisher.post_as = "retry"  # not posted for now
        run = parts.start(requester="U0ASKER")
        if why == "card-refused":
            reason = "The approval card could not be posted: Slack answered channel_not_found."
            [approval] = parts.store.run_approvals(run.thread_id)
            events = parts.engine.journal.card_refused_entries(
                approval, "channel_not_found", reason
            )
            assert parts.store.card_refused(approval.id, reason, events) is not None
            expected = RetryKind.CARD_REFUSED
        elif why != "not-failed":
            [approval] = parts.pending(run)
            parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
            graph.fail_with = None
            expected = RetryKind.NOT_FOUND if why == "not-theirs" else RetryKind.REPLAYED
        else:
            expected = RetryKind.NOT_FAILED
        clock.advance(5)
        click = press(parts, run, "U0RANDO" if why == "not-theirs" else "U0ASKER")
        if why == "replayed":  # worked once already (its lease ran out under a stalled taker)
            assert control(parts).retried(click).kind is RetryKind.RETRYING
        assert control(parts).retried(click).kind is expected
        assert len(retried_rows(db_url, run)) == (1 if why == "replayed" else 0)
    finally:
        parts.close()


def test_a_run_is_not_retried_without_its_retried_row(failed, db, db_url):
    parts, run = failed
    click = press(parts, run, "U0ASKER")
    with audit_refusals.refusing(db, "retried"), pytest.raises(Exception, match="audit refused"):
        control(parts).retried(click)
    # Neither the retry nor its row: the run is still failed, the click still open.
    assert parts.store.get_run(run.thread_id).status == "failed"
    assert not parts.store.click_closed(click.entry.id)
    assert retried_rows(db_url, run) == []

    assert control(parts).retried(click).kind is RetryKind.RETRYING
    assert retried_rows(db_url, run) == [("U0ASKER", "", {"via": "slack"})]


def test_a_retry_by_another_door_names_its_actor(failed, db_url):
    """RunControl.retry, for a door that checked who may retry itself: the row names them."""
    parts, run = failed
    assert parts.control.retry(run.thread_id, "U0ADMIN").kind is RetryKind.RETRYING
    assert retried_rows(db_url, run) == [("U0ADMIN", "", {"via": "slack"})]


def test_of_two_retries_racing_only_the_one_that_retried_has_a_row(failed, db_url):
    parts, run = failed
    journal = parts.engine.journal
    first = journal.retried_entry(run, Decision("retry", "U0ASKER"))
    second = journal.retried_entry(run, Decision("retry", "U0ADMIN"))
    assert parts.store.retry_run(run.thread_id, [first]) is not None
    assert parts.store.retry_run(run.thread_id, [second]) is None  # no longer failed
    assert retried_rows(db_url, run) == [("U0ASKER", "", {"via": "slack"})]
