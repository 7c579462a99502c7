"""What the journal writes for a decision: the version it was for, the door it came through,
and for a batch decided call by call, each call's decision."""

from __future__ import annotations

import time

import pytest

from bot.core.journal import Journal
from bot.domain.models import Approval, Decision
from bot.domain.review import Proposal, Review
from bot.runtime.metrics import Metrics
from bot.store.audit_log import Audit
from bot.store.db import open_database


@pytest.fixture
def journal(database_url):
    db = open_database(database_url)
    yield Journal(Audit(db, time.time), Metrics())
    db.close()


def _batch(decision: Decision, status: str, version: int) -> Approval:
    review = Review("hitl", "2 tool calls", (Proposal("send_email"), Proposal("issue_refund")))
    return Approval(
        "a" * 16,
        "t" * 32,
        "i",
        "agent",
        "x",
        "U0REQ",
        {},
        "C0",
        "1.0",
        status,
        1.0,
        decided_by=decision.by,
        decided_at=2.0,
        decision=decision,
        review=review,
        version=version,
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_mixed_batch_is_audited_call_by_call_with_its_version_and_door(journal):
    items = [{"type": "edit", "values": {"to": "boss@x"}}, {"type": "reject", "message": "no"}]
    decision = Decision("each", "U0BOB", items=items, approvers=["U0AL", "U0BOB"], via="api")
    event = journal.decided_entry(_batch(decision, "decided", 2))
    assert event.event == "decided" and event.actor == "U0BOB"
    assert event.detail["version"] == 2 and event.detail["via"] == "api"
    assert event.detail["calls"] == [
        {"decision": "edit", "call": "send_email", "values": {"to": "boss@x"}},
        {"decision": "reject", "call": "issue_refund", "message": "no"},
    ]
    assert event.detail["approvers"] == ["U0AL", "U0BOB"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_vote_is_audited_with_the_version_it_was_for(journal):
    approval = _batch(Decision("approve", "U0AL"), "pending", 3)
    event = journal.voted_entry(approval, Decision("approve", "U0AL", version=3), "approve")
    assert (event.event, event.actor, event.approval_id) == ("voted", "U0AL", approval.id)
    assert event.detail == {"vote": "approve", "version": 3, "via": "slack"}
