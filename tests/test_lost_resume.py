"""A decision marked applied that the graph never received (what a runner that lost a resume
left behind, as the LangGraph Server runner once did for a second decision given while the first
was under way): the graph's own checkpoint shows it still waits, so the sweep applies it again,
once."""

from __future__ import annotations

import pytest

from bot.domain.models import Decision, RunRequest
from tests.support.cards import wait_card
from tests.support.inprocess import Clock, inprocess_deps


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(fake_slack, fake_openai, database_url, clock):
    built = inprocess_deps(fake_slack, fake_openai, database_url, clock, APPROVERS="U0BOSS")
    yield built
    built.close()


def _drafts(fake_slack, text: str) -> list[str]:
    calls = fake_slack.calls("chat.postMessage")
    return [c.params["text"] for c in calls if c.params.get("text") == f"Draft: {text}"]


def test_a_decision_marked_applied_but_never_received_is_applied_once(deps, fake_slack, clock):
    deps.engine.start(RunRequest("draft", "Announce the outage", "U0REQ", "C0REQ", "C0REQ"))
    card = wait_card(fake_slack)
    run = deps.store.runs_of("U0REQ")[0]
    # The lost resume: claimed, marked applied, the graph never told.
    assert deps.store.claim(card.approval_id, Decision("approve", "U0BOSS")) is not None
    deps.store.mark_applied(card.approval_id)
    assert deps.store.get_run(run.thread_id).status == "running"  # on the move, to the sweep

    clock.advance(1)
    deps.engine.recover(older_than=0)  # the run sweep: the graph still waits on it
    deps.engine.recover(older_than=0)  # the decision sweep applies it
    assert _drafts(fake_slack, "Announce the outage") == ["Draft: Announce the outage"]
    assert deps.store.get_run(run.thread_id).status == "done"

    deps.engine.recover(older_than=0)  # nothing left to find: not posted twice
    assert _drafts(fake_slack, "Announce the outage") == ["Draft: Announce the outage"]


def test_a_run_stranded_waiting_by_an_earlier_version_is_moved_on_by_the_migration(
    deps, fake_slack, clock
):
    from bot.store.db.schema import MIGRATIONS

    deps.engine.start(RunRequest("draft", "Close the office", "U0REQ", "C0REQ", "C0REQ"))
    card = wait_card(fake_slack)
    run = deps.store.runs_of("U0REQ")[0]
    deps.store.claim(card.approval_id, Decision("approve", "U0BOSS"))
    deps.store.mark_applied(card.approval_id)
    deps.store.set_run_status(run.thread_id, "waiting")  # what the old _publish wrote
    [(_, statements)] = [m for m in MIGRATIONS if m[0] == 16]
    for statement in statements:
        deps.db.execute(statement)

    clock.advance(1)
    deps.engine.recover(older_than=0)
    deps.engine.recover(older_than=0)
    assert _drafts(fake_slack, "Close the office") == ["Draft: Close the office"]
    assert deps.store.get_run(run.thread_id).status == "done"
