"""Votes counted in the database: one per person and stage, edits set earlier approvals aside,
and exactly one vote settles a request however many arrive at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.domain.models import Decision, RunRequest
from bot.domain.review import Review
from bot.domain.signoff import SignOff, Stage
from bot.store.audit_log import Audit, Entry
from bot.store.db import open_database
from bot.store.decisions import Closing
from bot.store.repository import Store


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
    assert store.get_approval(approval.id).version == 2
    # A's click on the card that still showed the first version is refused...
    stale = store.vote(approval.id, 0, Decision("approve", "U0A"), "approve")
    assert stale.outcome == "stale" and store.get_approval(approval.id).pending
    # ...and A's approval of the version now on the card completes the quorum.
    signed = store.vote(approval.id, 0, Decision("approve", "U0A", version=2), "approve")
    assert signed.outcome == "decided"
    final = store.get_approval(approval.id)
    assert final.status == "edited" and final.decision.text == "new"
    assert final.decision.approvers == ["U0B", "U0A"] and final.decided_by == "U0A"


def test_an_edit_at_the_last_stage_goes_back_through_the_earlier_ones(store):
    sign_off = SignOff((Stage("Ed", ("U0A", "U0E")), Stage("Law", ("U0B",))), total=2)
    approval = _request(store, sign_off)
    assert store.vote(approval.id, 0, Decision("approve", "U0A"), "approve").outcome == "advanced"
    edit = Decision("edit", "U0B", text="changed", version=1)
    back = store.vote(approval.id, 1, edit, "edit")
    assert back.outcome == "returned" and back.approval.stage == 0
    current = store.get_approval(approval.id)
    assert (current.stage, current.version, current.pending) == (0, 2, True)
    # Ed's signature of the first version no longer counts: Ed signs the new one, and Law's
    # edit (its own signature) then completes the request with the edited text.
    again = store.vote(approval.id, 0, Decision("approve", "U0E", version=2), "approve")
    assert again.outcome == "decided"
    final = store.get_approval(approval.id)
    assert final.status == "edited" and final.decision.text == "changed"
    assert final.decision.approvers == ["U0E", "U0B"]


def test_no_claim_lands_on_a_cancelled_run_and_no_cancel_after_a_claim(store):
    approval = _request(store, SignOff())
    cancelled = store.cancel_run("t" * 32, Decision("cancel", "U0REQ"), "Cancelled.")
    assert [a.id for a in cancelled] == [approval.id]
    assert store.claim(approval.id, Decision("approve", "U0A")) is None
    assert store.get_run("t" * 32).status == "cancelled"
    store.set_run_status("t" * 32, "waiting")  # cancelled is final
    assert store.get_run("t" * 32).status == "cancelled"


def test_a_cancel_after_a_claimed_decision_changes_nothing(store):
    approval = _request(store, SignOff())
    assert store.claim(approval.id, Decision("approve", "U0A")) is not None
    assert store.cancel_run("t" * 32, Decision("cancel", "U0REQ"), "Cancelled.") is None
    assert store.get_run("t" * 32).status == "running"
    assert store.get_approval(approval.id).status == "approved"


def test_cancel_racing_approvals_either_wins_never_both(store):
    """Two requests of one run, a cancel and two approvals at once, many times over: either
    the cancel refused (and a decision stands) or every request is cancelled."""
    for attempt in range(15):
        thread = f"{attempt:032x}"
        run = store.create_run(thread, RunRequest("draft", "hi", "U0REQ", "C0", "C0"))
        first, second = (
            store.add_approval(run, f"i-{n}", {}, Review("plain", "x", ()), (), SignOff())
            for n in (1, 2)
        )
        with ThreadPoolExecutor(3) as pool:
            cancel = pool.submit(store.cancel_run, thread, Decision("cancel", "U0REQ"), "c")
            claims = [
                pool.submit(store.claim, a.id, Decision("approve", "U0A")) for a in (first, second)
            ]
            cancelled, won = cancel.result(), [c.result() for c in claims]
        statuses = {store.get_approval(a.id).status for a in (first, second)}
        if cancelled is None:
            assert store.get_run(thread).status != "cancelled"
            assert any(w is not None for w in won)
        else:
            assert store.get_run(thread).status == "cancelled"
            assert statuses == {"cancelled"} and won == [None, None]


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


def test_the_vote_that_settles_a_request_claims_it_with_its_click_and_audit_event(store):
    """The settling vote's claim keeps the completing click's receipt (a replay of that click
    is recognised as its own) and writes what it closes in the vote's transaction."""
    approval = _request(store, SignOff((Stage(approvers=("S0",), quorum=2),)))
    store.vote(approval.id, 0, Decision("approve", "U0A"), "approve")
    entry = store.receive_click(approval.id, Decision("approve", "U0B"), "C0", lease=0.0).entry.id
    audit = Entry("approved", approval.thread_id, "U0B", approval.id)
    ballot = store.vote(
        approval.id,
        0,
        Decision("approve", "U0B", receipt=entry),
        "approve",
        lambda claimed: Closing((audit,), entry=entry),
    )
    assert ballot.outcome == "decided" and ballot.approval.decision.receipt == entry
    assert [e.event for e in Audit(store.db, store.clock).for_run(approval.thread_id)] == [
        "approved"
    ]
    assert store.open_inbox(-60) == []  # the click is closed
