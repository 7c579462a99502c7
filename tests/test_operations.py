"""Cancelling in the corners the Slack scenarios cannot time: a run cancelled while its model
is still working never posts a card, and a decision being carried out cannot be cancelled."""

from __future__ import annotations

import pytest

from bot.domain.models import Decision, RunRequest
from tests.support.inprocess import Clock, inprocess_deps


@pytest.fixture
def deps(fake_slack, fake_openai, database_url):
    built = inprocess_deps(
        fake_slack, fake_openai, database_url, Clock(), APPROVERS="U0BOSS", ADMINS="U0ADMIN"
    )
    yield built
    built.close()


def _record(deps, text: str = "Announce the move"):
    """A run recorded as /agent records it, before any worker has touched it."""
    return deps.store.create_run("a" * 32, RunRequest("draft", text, "U0REQ", "C0REQ", "C0REQ"))


def test_a_run_cancelled_while_it_works_never_asks_anyone(deps, fake_slack, fake_openai):
    run = _record(deps)
    assert deps.operations.cancel("aaaaaaaa", "U0RANDO") == "I can't find a run `aaaaaaaa`."
    # No request yet, so no approver of one: the requester and the admins only.
    assert deps.operations.cancel("aaaa", "U0BOSS") == "I can't find a run `aaaa`."
    assert deps.operations.cancel("aaaa", "U0ADMIN") == "Cancelled run `aaaaaaaa`."
    deps.engine.advance(run.thread_id)  # the worker gets to it after the cancel
    assert fake_openai.requests == []  # the model was never asked, no card was posted
    posted = [c.params["text"] for c in fake_slack.calls("chat.postMessage")]
    assert posted == ["Run `aaaaaaaa` was cancelled by <@U0ADMIN>. Nothing more will run."]
    assert deps.store.get_run(run.thread_id).status == "cancelled"
    events = [(e.event, e.actor) for e in deps.operations.audit.for_run(run.thread_id)]
    assert events == [("cancelled", "U0ADMIN")]
    assert deps.operations.cancel("aaaa", "U0REQ") == (
        "Run `aaaaaaaa` is already cancelled; there is nothing to cancel."
    )


def test_a_decision_being_carried_out_cannot_be_cancelled(deps, fake_slack):
    run = _record(deps)
    deps.engine.advance(run.thread_id)
    [card] = deps.store.run_approvals(run.thread_id)
    assert deps.store.claim(card.id, Decision("approve", "U0BOSS")) is not None  # not applied yet
    assert deps.operations.cancel("aaaa", "U0REQ") == (
        "Too late: run `aaaaaaaa` was just decided and is carrying it out. `/agent status aaaaaaaa`"
    )
    assert deps.store.get_run(run.thread_id).status != "cancelled"


@pytest.mark.parametrize("command", ["status", "audit", "cancel"])
def test_a_subcommand_without_a_run_id_shows_itself_in_its_example(deps, command):
    operation = {"audit": deps.operations.audit_of}.get(command) or getattr(
        deps.operations, command
    )
    assert operation("", "U0REQ") == (
        f"Which run? Give its id, as I print it: for example `/agent {command} 1a2b3c4d`."
    )
