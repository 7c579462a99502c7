"""Remembered approvals in the database (SQLite and PostgreSQL): a rule is made with its
request's claim or not at all, and used with a new request's claim only while it is in force."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.domain.models import Decision, RunRequest
from bot.domain.review import Review
from bot.store.db import open_database
from bot.store.repository import Store
from bot.store.retention import prune
from bot.store.rules import Rules
from tests.support.rules import SCOPE, remember


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def store(database_url, clock):
    db = open_database(database_url)
    yield Store(db, clock)
    db.close()


def request(store: Store, n: int):
    run = store.create_run(f"{n:032x}", RunRequest("action", "hi", "U0REQ", "C0", "C0"))
    return store.add_approval(run, f"i-{n}", {}, Review("plain", "x", ()))


def test_a_rule_is_made_with_its_claim_once_however_many_clicks_race(store):
    approval = request(store, 1)
    with ThreadPoolExecutor(8) as pool:
        made = [m for m in pool.map(lambda _: remember(store, approval.id), range(16)) if m]
    assert len(made) == 1
    claimed, rule = made[0]
    assert claimed.status == "approved" and claimed.decision.rule == rule.id
    assert [r.id for r in Rules(store.db).live(store.clock())] == [rule.id]


def test_a_lost_claim_makes_no_rule(store):
    approval = request(store, 1)
    assert store.claim(approval.id, Decision("reject", "U0CAROL")) is not None
    assert remember(store, approval.id) is None
    assert store.db.fetch_all("SELECT * FROM rules") == []


def test_a_rule_answers_only_while_it_is_in_force(store, clock):
    rows = Rules(store.db)
    _, rule = remember(store, request(store, 1).id)
    assert rows.matching(SCOPE, clock()) == rule
    assert rows.matching({**SCOPE, "match": '{"to":"cfo@example.com"}'}, clock()) is None

    used = store.claim_by_rule(request(store, 2).id, rule.id)
    assert used is not None and used[1].uses == 1
    assert used[0].decision == Decision("approve", "U0BOB", via="rule", rule=rule.id)

    assert rows.revoke(rule.id, "U0BOB", clock()) is not None
    assert rows.revoke(rule.id, "U0BOB", clock()) is None  # once
    assert store.claim_by_rule(request(store, 3).id, rule.id) is None
    assert store.get_approval(store.find_approval(f"{3:032x}", "i-3").id).pending

    _, later = remember(store, request(store, 4).id)
    clock.now += 3600
    assert rows.matching(SCOPE, clock()) is None
    assert store.claim_by_rule(request(store, 5).id, later.id) is None


def test_prune_deletes_rules_that_ended_before_the_cutoff(store, clock):
    _, ended = remember(store, request(store, 1).id)
    Rules(store.db).revoke(ended.id, "U0BOB", clock())
    _, live = remember(store, request(store, 2).id)
    assert prune(store.db, clock() + 1)["rules"] == 1
    assert [r["id"] for r in store.db.fetch_all("SELECT id FROM rules")] == [live.id]
