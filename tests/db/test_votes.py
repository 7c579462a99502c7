"""Votes counted in the database: one per person and stage, edits set earlier approvals aside,
and exactly one vote settles a request however many arrive at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.db import open_database
from bot.models import Decision, RunRequest
from bot.review import Review
from bot.signoff import SignOff, Stage
from bot.store import Store


@pytest.fixture
def store(database_url):
    db = open_database(database_url)
    yield Store(db, time.time)
    db.close()


def _request(store: Store, sign_off: SignOff):
    run = store.create_run("t" * 32, RunRequest("draft", "hi", "U0REQ", "C0", "C0"))
    return store.add_approval(run, "i-1", {}, Review("plain", "x", ()), (), sign_off)


def test_a_quorum_settles_once_under_concurrent_votes(store):
    approval = _request(store, SignOff((Stage(approvers=("S0",), quorum=2),)))
    voters = ["U0A", "U0B", "U0C"] * 6
    with ThreadPoolExecutor(8) as pool:
        ballots = list(
            pool.map(
                lambda v: store.vote(approval.id, 0, Decision("approve", v), "approve"), voters
            )
        )
    outcomes = [b.outcome for b in ballots]
    assert outcomes.count("decided") == 1
    assert outcomes.count("counted") == 1
    assert set(outcomes) <= {"decided", "counted", "duplicate", "closed"}
    final = store.get_approval(approval.id)
    assert final.status == "approved" and len(set(final.decision.approvers)) == 2
    assert len(store.votes(approval.id)) == 2


def test_one_vote_per_person_and_an_edit_sets_other_approvals_aside(store):
    approval = _request(store, SignOff((Stage(approvers=("S0",), quorum=2),)))
    assert store.vote(approval.id, 0, Decision("approve", "U0A"), "approve").outcome == "counted"
    assert store.vote(approval.id, 0, Decision("reject", "U0A"), "reject").outcome == "duplicate"
    edit = Decision("edit", "U0B", text="new")
    assert store.vote(approval.id, 0, edit, "edit").outcome == "counted"  # A no longer counts
    assert store.vote(approval.id, 0, Decision("approve", "U0A"), "approve").outcome == "decided"
    final = store.get_approval(approval.id)
    assert final.status == "edited" and final.decision.text == "new"
    assert final.decision.approvers == ["U0B", "U0A"] and final.decided_by == "U0A"


def test_stages_advance_in_order_and_a_stale_stage_is_told_it_moved(store):
    sign_off = SignOff((Stage("Ed", ("U0A",)), Stage("Law", ("U0B",))), total=2)
    approval = _request(store, sign_off)
    assert store.vote(approval.id, 0, Decision("approve", "U0A"), "approve").outcome == "advanced"
    moved = store.vote(approval.id, 0, Decision("approve", "U0C"), "approve")
    assert moved.outcome == "moved" and moved.approval.stage == 1
    assert store.vote(approval.id, 1, Decision("approve", "U0B"), "approve").outcome == "decided"
    assert store.get_approval(approval.id).decision.approvers == ["U0A", "U0B"]
    assert store.vote(approval.id, 1, Decision("approve", "U0D"), "approve").outcome == "closed"


def test_enough_rejections_reject(store):
    approval = _request(store, SignOff((Stage(approvers=("S0",), quorum=2, rejections=2),)))
    store.vote(approval.id, 0, Decision("approve", "U0A"), "approve")
    assert store.vote(approval.id, 0, Decision("reject", "U0B"), "reject").outcome == "counted"
    ballot = store.vote(approval.id, 0, Decision("reject", "U0C", reason="no"), "reject")
    assert ballot.outcome == "decided"
    final = store.get_approval(approval.id)
    assert (final.status, final.decided_by, final.decision.reason) == ("rejected", "U0C", "no")
