"""A remembered approval revoked (bot.core.rules.Rules.revoke) on both real databases: the rule's
revocation and its ``rule_revoked`` row are one statement (PostgreSQL) or transaction (SQLite),
so no crash or lost connection between them leaves a revoked rule with no row for it."""

from __future__ import annotations

import pytest

from bot.core.journal import Journal
from bot.core.outcomes import RevokeKind
from bot.core.remember import Remembering
from bot.core.rules import Rules
from bot.domain.models import RunRequest
from bot.domain.review import Review
from bot.runtime.metrics import Metrics
from bot.store.audit_log import Audit
from bot.store.repository import Store
from bot.store.rules import Rules as RuleRows
from tests.support.audit_refusals import exported, refusing
from tests.support.rules import remember
from tests.support.statements import counting


@pytest.fixture
def rules(db, clock) -> Rules:
    store = Store(db, clock)
    journal = Journal(Audit(db, clock), Metrics())
    return Rules(store, RuleRows(db), Remembering(), lambda _: frozenset(), journal)


def remembered(rules: Rules, thread_id: str = "r" * 32) -> int:
    """A rule U0BOB made by approving a request of U0REQ's run."""
    store = rules.store
    run = store.create_run(thread_id, RunRequest("action", "hi", "U0REQ", "C0", "C0"))
    approval = store.add_approval(run, "i1", {}, Review("plain", "x", ()))
    made = remember(store, approval.id)
    assert made is not None
    return made[1].id


def revoked_rows(rules: Rules, thread_id: str = "r" * 32) -> list[dict]:
    events = rules.journal.audit.for_run(thread_id)
    return [{"by": e.actor, **e.detail} for e in events if e.event == "rule_revoked"]


def test_a_revoked_rule_has_one_rule_revoked_row_in_the_exported_audit(rules, db_url):
    rule_id = remembered(rules)
    assert rules.revoke(rule_id, "U0BOB").kind == RevokeKind.REVOKED
    assert rules.revoke(rule_id, "U0BOB").kind == RevokeKind.NOT_FOUND  # once
    [row] = [e for e in exported(db_url, "r" * 32) if e["event"] == "rule_revoked"]
    assert (row["actor"], row["detail"]) == ("U0BOB", {"rule": rule_id})
    assert row["request"] == rules.rows.get(rule_id).approval_id


def test_a_rule_is_not_revoked_without_its_rule_revoked_row(rules, db):
    rule_id = remembered(rules)
    with refusing(db, "rule_revoked"):
        with pytest.raises(Exception, match="audit refused"):
            rules.revoke(rule_id, "U0BOB")
        # Still in force, as the person who tried is told (the command failed).
        assert rules.rows.get(rule_id).revoked_at is None
        assert revoked_rows(rules) == []
    assert rules.revoke(rule_id, "U0BOB").kind == RevokeKind.REVOKED
    assert revoked_rows(rules) == [{"by": "U0BOB", "rule": rule_id}]


@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_on_postgres_a_revocation_and_its_audit_row_are_one_statement(rules):
    rule_id = remembered(rules)
    with counting() as statements:
        statements.recording = True
        assert rules.revoke(rule_id, "U0BOB").kind == RevokeKind.REVOKED
        statements.recording = False
    writes = [sql for sql, _ in statements.sent if "UPDATE rules" in sql or "audit" in sql]
    assert len(writes) == 1, statements.report()
    assert "INSERT INTO audit" in writes[0]
