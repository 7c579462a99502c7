"""What the HTTP approval API answers (bot.http.api_answers), from real outcomes of the engine on
both databases: a run with what it waits on, what was decided and its audit trail; a request's
choices (a batch is offered Approve only when it can be read in full); and the answer to a
decision: 200 when it settled the request, 202 when it was one vote of several, 409 with the
words a click would hear otherwise (and the new version when the graph refused it)."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from bot.core import outcomes
from bot.domain.models import Decision
from bot.http.api_answers import decided_json, decision_answer, described, pending_json, run_json
from bot.slack.blocks.outcomes import sentence
from bot.store.audit_log import Audit
from tests.adapters.payloads import hitl_value
from tests.support.approvals import make_approval
from tests.support.inprocess import Clock


@pytest.fixture
def clock() -> Clock:
    """Stands still until the test moves it."""
    return Clock()


def body(response: Any) -> dict[str, Any]:
    return json.loads(response.body)


# a run, as GET /api/runs/{run} describes it ------------------------------------------------------
def test_a_run_lists_what_it_waits_on_what_was_decided_and_its_trail(parts, clock):
    run = parts.start(requester="U0ASKER", text="draft a note")
    [approval] = parts.pending(run)
    waiting = described(
        parts.store.get_run(run.thread_id) or run,
        parts.store.run_approvals(run.thread_id),
        Audit(parts.db, clock).for_run(run.thread_id),
        parts.tally,
    )
    assert waiting["run"] == run.thread_id and waiting["short"] == run.thread_id[:8]
    assert (waiting["graph"], waiting["requester"], waiting["request"]) == (
        "draft",
        "U0ASKER",
        "draft a note",
    )
    assert [p["request"] for p in waiting["pending"]] == [approval.id]
    assert waiting["decided"] == []

    clock.advance(3)
    parts.engine.decide(approval.id, Decision("reject", "U0ASKER", reason="not now"))
    done = described(
        parts.store.get_run(run.thread_id) or run,
        parts.store.run_approvals(run.thread_id),
        Audit(parts.db, clock).for_run(run.thread_id),
        parts.tally,
    )
    assert done["pending"] == []
    [decided] = done["decided"]
    assert decided == {
        "request": approval.id,
        "status": "rejected",
        "by": "U0ASKER",
        "approvers": None,  # a rejection signs nothing
        "reason": "not now",
        "via": "slack",
        "on_behalf_of": None,
        "at": clock.now,
    }
    trail = done["timeline"]
    assert {"at", "event", "actor", "request"} <= set(trail[0])
    assert "rejected" in [row["event"] for row in trail]
    assert all("detail" not in row or row["detail"] for row in trail)  # only when there is one
    assert json.dumps(done)  # all of it is JSON


def test_run_json_is_the_runs_own_fields(parts):
    run = parts.start(requester="U0ASKER", text="hello")
    assert set(run_json(run)) == {
        "run",
        "short",
        "graph",
        "status",
        "requester",
        "request",
        "result",
        "created_at",
    }


# a pending request -------------------------------------------------------------------------------
def test_a_single_request_offers_its_own_choices_and_fields(parts, approval):
    shown = pending_json(approval, parts.tally)
    assert shown["request"] == approval.id
    assert shown["choices"] == ["approve", "edit", "reject"]
    assert shown["who_may_decide"] == "<@U0ASKER>"
    assert shown["stage"] is None  # one stage: no label
    assert shown["version"] == approval.version


def test_who_may_decide_names_the_listed_people(pair):
    [approval] = pair.pending(pair.start(requester="U0ASKER"))
    assert pending_json(approval, pair.tally)["who_may_decide"] == "<@U0ANN> or <@U0BOB>"


def test_a_batch_is_offered_approve_only_when_it_can_be_read_in_full(parts):
    calls = [(f"tool_{n}", {"body": "short"}) for n in range(3)]
    readable = make_approval(hitl_value(*calls))
    assert pending_json(readable, parts.tally)["choices"] == ["approve", "reject"]
    assert pending_json(readable, parts.tally)["fields"] == []

    long = [(f"tool_{n}", {"body": "x" * 100_000}) for n in range(3)]
    unreadable = make_approval(hitl_value(*long))
    assert pending_json(unreadable, parts.tally)["choices"] == ["reject"]


def test_a_batch_that_allows_no_rejection_is_not_offered_one(parts):
    calls = [(f"tool_{n}", {"body": "short"}) for n in range(2)]
    approval = make_approval(hitl_value(*calls, allowed=["approve"]))
    assert pending_json(approval, parts.tally)["choices"] == ["approve"]


def test_a_request_without_a_review_is_approve_or_reject(parts, approval):
    bare = replace(approval, review=None)
    shown = pending_json(bare, parts.tally)
    assert (shown["choices"], shown["kind"], shown["title"], shown["fields"]) == (
        ["approve", "reject"],
        "",
        "",
        [],
    )


# decided -----------------------------------------------------------------------------------------
def test_a_request_signed_by_several_names_all_of_them_and_the_door(pair):
    [approval] = pair.pending(pair.start(requester="U0ASKER"))
    pair.engine.decide(approval.id, Decision("approve", "U0ANN"))
    api = Decision("approve", "U0BOB", via="api", on_behalf_of="ci-bot")
    pair.engine.decide(approval.id, api)

    shown = decided_json(pair.approval(approval.id))
    assert shown["status"] == "approved"
    assert sorted(shown["approvers"]) == ["U0ANN", "U0BOB"]
    assert (shown["via"], shown["on_behalf_of"]) == ("api", "ci-bot")


# the answer to POST /api/runs/{run}/decision -----------------------------------------------------
def test_a_decision_that_settled_the_request_is_200_with_its_status(parts, approval):
    outcome = parts.engine.decide(approval.id, Decision("approve", "U0ASKER", via="api"))
    latest = parts.approval(approval.id)

    response = decision_answer(approval, latest, outcome)

    assert response.status_code == 200
    assert body(response) == {"decided": True, "request": approval.id, "status": "approved"}


def test_one_vote_of_several_is_202_with_who_is_still_needed(pair):
    [approval] = pair.pending(pair.start(requester="U0ASKER"))
    outcome = pair.engine.decide(approval.id, Decision("approve", "U0ANN", via="api"))
    assert isinstance(outcome, outcomes.VoteRecorded)

    response = decision_answer(approval, pair.approval(approval.id), outcome)

    assert response.status_code == 202
    answer = body(response)
    assert (answer["decided"], answer["status"]) == (False, "pending")
    assert answer["note"] == sentence(outcome) and "U0BOB" in answer["note"]


def test_a_vote_whose_request_was_settled_meanwhile_is_not_202(pair):
    [approval] = pair.pending(pair.start(requester="U0ASKER"))
    vote = pair.engine.decide(approval.id, Decision("approve", "U0ANN", via="api"))
    pair.engine.decide(approval.id, Decision("approve", "U0BOB"))

    response = decision_answer(approval, pair.approval(approval.id), vote)

    assert response.status_code == 409
    assert body(response)["decided"] is False


def test_a_late_decision_is_409_with_who_decided(parts, approval):
    parts.engine.decide(approval.id, Decision("reject", "U0ASKER"))
    late = parts.engine.decide(approval.id, Decision("approve", "U0ASKER", via="api"))
    assert isinstance(late, outcomes.AlreadyDecided)

    response = decision_answer(approval, parts.approval(approval.id), late)

    assert response.status_code == 409
    answer = body(response)
    assert answer == {"decided": False, "request": approval.id, "error": sentence(late)}
    assert "Rejected" in answer["error"] and "<@U0ASKER>" in answer["error"]


def test_a_refused_person_is_409_and_told_who_may(parts, approval):
    refused = parts.engine.decide(approval.id, Decision("approve", "U0STRANGER", via="api"))
    response = decision_answer(approval, parts.approval(approval.id), refused)
    assert response.status_code == 409
    assert "<@U0ASKER>" in body(response)["error"]


def test_a_decision_the_graph_refused_is_409_with_why_and_the_version_to_decide(parts, approval):
    reopened = replace(approval, version=2, refused="the amount is over the limit")
    outcome = outcomes.AgentRefused(reopened)

    response = decision_answer(approval, reopened, outcome)

    assert response.status_code == 409
    answer = body(response)
    assert answer["status"] == "pending" and answer["decided"] is False
    assert (answer["refused"], answer["version"]) == ("the amount is over the limit", 2)
    assert answer["error"] == sentence(outcome)


def test_an_outcome_with_nothing_to_say_still_says_nothing_changed(parts, approval):
    replay = outcomes.Replayed(approval)
    response = decision_answer(approval, approval, replay)
    assert response.status_code == 409
    assert body(response)["error"] == "Nothing changed."
