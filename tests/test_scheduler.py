"""Reminders, escalation levels and expiry with a clock the test controls (in-process)."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest

from bot.core.outcomes import won
from bot.domain.models import Decision, RunRequest
from bot.store.db.base import ACK_WINDOW
from tests.support.cards import blocks_text, has_buttons, wait_card, wait_cards
from tests.support.inprocess import Clock, inprocess_deps

HOUR = 3600.0
POLICY = """
defaults:
  remind_after: 1h
  expire_after: 24h
  escalation:
    - {after: 4h, to: [S0ONCALL], channel: C0ESC}
    - {after: 8h, to: [U0CTO], channel: C0ESC, repeat: 1, every: 2h}
graphs:
  action: {expire_after: 2h, expire_as: reject}
"""


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(fake_slack, fake_openai, database_url, clock, tmp_path: Path):
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    built = inprocess_deps(fake_slack, fake_openai, database_url, clock, policy, APPROVERS="U0BOSS")
    yield built
    built.close()


def _start(deps, text="Announce the outage"):
    deps.engine.start(RunRequest("draft", text, "U0REQ", "C0REQ", "C0REQ"))


def _thread_texts(fake_slack, card):
    return [m["text"] for m in fake_slack.replies(card.channel, card.ts)]


def _escalations(fake_slack):
    calls = fake_slack.calls("chat.postMessage")
    return [c for c in calls if c.ok and c.params.get("channel") == "C0ESC"]


def test_remind_escalate_expire_in_order_each_once(deps, fake_slack, clock):
    _start(deps)
    card = wait_card(fake_slack)
    assert "Escalates <!date^" in card.text and "Expires <!date^" in card.text

    assert deps.scheduler.tick() == 0
    clock.advance(1 * HOUR)
    deps.scheduler.tick()
    deps.scheduler.tick()
    reminders = _thread_texts(fake_slack, card)
    assert len(reminders) == 1 and "<@U0BOSS>" in reminders[0] and "1h" in reminders[0]

    clock.advance(3 * HOUR)  # 4h: level 1
    deps.scheduler.tick()
    deps.scheduler.tick()
    level1 = _escalations(fake_slack)
    assert len(level1) == 1
    assert (
        "level 1" in level1[0].params["text"] and "<!subteam^S0ONCALL>" in level1[0].params["text"]
    )
    assert "https://" in level1[0].params["text"]  # permalink to the card
    card_now = fake_slack.message(card.channel, card.ts)
    assert "Escalated to <!subteam^S0ONCALL> (level 1)" in blocks_text(card_now["blocks"])

    clock.advance(4 * HOUR)  # 8h: level 2
    deps.scheduler.tick()
    clock.advance(2 * HOUR)  # 10h: level 2 repeated
    deps.scheduler.tick()
    deps.scheduler.tick()
    texts = [c.params["text"] for c in _escalations(fake_slack)]
    assert len(texts) == 3
    assert "level 2" in texts[1] and "<@U0CTO>" in texts[1] and "reminder 2" in texts[2]

    clock.advance(14 * HOUR + ACK_WINDOW)  # 24h: expiry, once its ack window is over
    deps.scheduler.tick()
    deps.scheduler.tick()
    final = fake_slack.message(card.channel, card.ts)
    assert not has_buttons(final)
    assert "Expired after 24h — rejected automatically" in blocks_text(final["blocks"])
    assert not [
        c
        for c in fake_slack.calls("chat.postMessage")
        if c.params.get("text") == "Draft: Announce the outage"
    ]
    assert len(_escalations(fake_slack)) == 3
    assert len(_thread_texts(fake_slack, card)) == 2  # the reminder, then the run's outcome

    assert _decide(deps, card.approval_id, Decision("approve", "U0BOSS")) is False
    note = fake_slack.calls("chat.postEphemeral")[-1].params
    assert note["user"] == "U0BOSS" and "Expired after 24h" in note["text"]


def _decide(deps, approval_id: str, decision: Decision) -> bool:
    """Decide as a click does (the person hears what came of it); True when it won."""
    outcome = deps.engine.decide(approval_id, decision)
    deps.engine.answers.answer(outcome, None, decision.by)
    return won(outcome)


def test_a_decision_cancels_what_is_left(deps, fake_slack, clock):
    _start(deps)
    card = wait_card(fake_slack)
    clock.advance(1 * HOUR)
    deps.scheduler.tick()
    assert _decide(deps, card.approval_id, Decision("approve", "U0BOSS"))
    clock.advance(30 * HOUR)
    deps.scheduler.tick()
    assert _escalations(fake_slack) == []
    assert "Approved* by <@U0BOSS>" in blocks_text(
        fake_slack.message(card.channel, card.ts)["blocks"]
    )
    statuses = {j.kind: j.status for j in deps.store.jobs_for(card.approval_id)}
    assert statuses == {"remind": "done", "escalate": "cancelled", "expire": "cancelled"}


def test_expiry_racing_a_click_has_one_winner(deps, fake_slack, clock):
    for n in range(4):
        fake_slack.reset()
        _start(deps, f"Race {n}")
        card = wait_card(fake_slack)
        clock.advance(25 * HOUR)
        results = {}
        barrier = threading.Barrier(2)

        def click(card=card, barrier=barrier, results=results):
            barrier.wait()
            results["click"] = _decide(deps, card.approval_id, Decision("approve", "U0BOSS"))

        def tick(barrier=barrier):
            barrier.wait()
            deps.scheduler.tick()

        threads = [threading.Thread(target=click), threading.Thread(target=tick)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        final = blocks_text(fake_slack.message(card.channel, card.ts)["blocks"])
        posted = [
            c
            for c in fake_slack.calls("chat.postMessage")
            if c.params.get("text") == f"Draft: Race {n}"
        ]
        # The clock is past the deadline, so the expiry wins even a click that came first,
        # and the clicker is told.
        assert results["click"] is False
        assert "Expired after 24h" in final and posted == []
        assert len(fake_slack.calls("chat.update")) == 1
        assert "Expired after 24h" in fake_slack.calls("chat.postEphemeral")[-1].params["text"]


def test_slack_429_and_5xx_are_retried_not_lost_not_duplicated(deps, fake_slack, clock):
    _start(deps)
    card = wait_card(fake_slack)
    clock.advance(1 * HOUR)
    fake_slack.fail_next("chat.postMessage", status=429, error="ratelimited", retry_after=1)
    deps.scheduler.tick()  # slack_sdk waits out Retry-After and retries
    assert len(_thread_texts(fake_slack, card)) == 1

    clock.advance(3 * HOUR)
    fake_slack.fail_next("chat.postMessage", status=503, times=10)  # past slack_sdk's retries
    deps.scheduler.tick()
    assert _escalations(fake_slack) == []
    job = next(j for j in deps.store.jobs_for(card.approval_id) if j.kind == "escalate")
    assert job.status == "pending" and job.attempts == 1
    clock.advance(10 * 60)
    fake_slack.reset()
    deps.scheduler.tick()
    deps.scheduler.tick()
    assert len(_escalations(fake_slack)) == 1


def test_a_failed_card_update_is_retried_until_the_card_shows_the_outcome(deps, fake_slack, clock):
    _start(deps)
    card = wait_card(fake_slack)
    clock.advance(25 * HOUR)
    fake_slack.fail_next("chat.update", status=503, times=4)  # all of slack_sdk's retries
    deps.scheduler.tick()
    assert has_buttons(fake_slack.message(card.channel, card.ts))  # Slack is down: still stale
    clock.advance(60)
    deps.scheduler.tick()
    final = fake_slack.message(card.channel, card.ts)
    assert not has_buttons(final)
    assert "Expired after 24h — rejected automatically" in blocks_text(final["blocks"])
    assert len([c for c in fake_slack.calls("chat.update") if c.ok]) == 1


def test_reminders_due_together_in_one_channel_become_one_digest(deps, fake_slack, clock):
    for n in range(3):
        _start(deps, f"Notice {n}")
    cards = wait_cards(fake_slack, 3)
    clock.advance(1 * HOUR)
    assert deps.scheduler.tick() == 3
    digests = [
        c
        for c in fake_slack.calls("chat.postMessage")
        if "requests are waiting" in c.params["text"]
    ]
    assert len(digests) == 1 and "thread_ts" not in digests[0].params
    text = digests[0].params["text"]
    assert text.startswith(":alarm_clock: <@U0BOSS> 3 requests are waiting for a decision:")
    for card in cards:
        assert f"https://slack.com/archives/{card.channel}/p{card.ts.replace('.', '')}" in text
        assert _thread_texts(fake_slack, card) == []  # no reply per card
    for n in range(3):  # each line: what waits (the review's summary), for whom, the request
        assert re.search(rf"\|card>: draft for <@U0REQ>, waiting 1h: Notice {n}$", text, re.M)
    assert deps.scheduler.tick() == 0  # each reminder sent once
    events = [e.event for e in deps.operations.audit.since(0)]
    assert events.count("reminded") == 3


def test_a_failed_digest_is_retried_not_lost(deps, fake_slack, clock):
    for n in range(2):
        _start(deps, f"Item {n}")
    wait_cards(fake_slack, 2)
    clock.advance(1 * HOUR)
    fake_slack.fail_next("chat.postMessage", status=200, error="fatal_error", retry_after=None)
    deps.scheduler.tick()
    assert not [
        c for c in fake_slack.calls("chat.postMessage") if c.ok and "waiting" in c.params["text"]
    ]
    clock.advance(600)
    deps.scheduler.tick()
    sent = [
        c for c in fake_slack.calls("chat.postMessage") if c.ok and "2 requests" in c.params["text"]
    ]
    assert len(sent) == 1
