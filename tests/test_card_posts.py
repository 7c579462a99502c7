"""Card posts, each request on its own schedule (bot.slack.card_posts), in-process on both
databases:
a card Slack refuses for good closes its request and run as failed and tells the requester once;
a card that fails for now backs off, per request, exponentially; a channel whose cards keep
failing never takes the sweep's room from another channel's."""

from __future__ import annotations

import json

import pytest

from bot.core.outcomes import RetryKind
from bot.domain.models import RunRequest
from bot.slack.blocks.outcomes import retry_sentence
from tests.support.inprocess import Clock, inprocess_deps

TICK = 30.0  # SCHEDULER_TICK's default: the first backoff's ceiling


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def deps(fake_slack, fake_openai, database_url, clock):
    built = inprocess_deps(fake_slack, fake_openai, database_url, clock, APPROVERS="U0BOSS")
    built.card_posts.rand = lambda: 1.0  # no jitter: each wait is its ceiling
    yield built
    built.close()


def start(deps, text: str, channel: str, requester: str = "U0REQ") -> str:
    run = deps.engine.start(RunRequest("draft", text, requester, channel, channel))
    return run.thread_id


def cards_in(fake_slack, channel: str) -> list:
    """Cards Slack really posted in ``channel``."""
    return [
        c
        for c in fake_slack.calls("chat.postMessage")
        if c.ok and c.params.get("channel") == channel and c.params.get("blocks")
    ]


def dms(fake_slack, user: str) -> list[str]:
    calls = fake_slack.calls("chat.postMessage")
    return [c.params["text"] for c in calls if c.ok and c.params.get("channel") == user]


def audit(deps, thread_id: str) -> list[tuple[str, dict]]:
    rows = deps.db.fetch_all(
        "SELECT event, detail FROM audit WHERE thread_id = %(t)s ORDER BY at", {"t": thread_id}
    )
    return [(r["event"], json.loads(r["detail"])) for r in rows]


def metric(deps, line: str) -> float:
    for text in deps.metrics.exposition().decode().splitlines():
        if text.startswith(line + " "):
            return float(text.split()[-1])
    return 0.0


REFUSALS = {
    "channel_not_found": ("D0THEM", {"exists": False}, "/agent"),
    "not_in_channel": ("C0NOBOT", {"member": False}, "/invite"),
    "is_archived": ("C0OLD", {"archived": True}, "APPROVALS_CHANNEL"),
    "invalid_blocks": ("C0REQ", None, "tell whoever runs the bot"),
}


@pytest.mark.parametrize("error", list(REFUSALS))
def test_a_card_refused_for_good_fails_its_run_and_tells_the_requester_once(
    deps, fake_slack, clock, error
):
    channel, access, advice = REFUSALS[error]
    if access is None:  # blocks Slack will not take: the same post is refused every time
        fake_slack.fail_next("chat.postMessage", status=200, error=error, channel=channel)
    else:
        fake_slack.set_channel(channel, **access)
    thread_id = start(deps, "Announce the outage", channel)

    [approval] = deps.store.run_approvals(thread_id)
    assert approval.status == "failed" and approval.ts is None
    run = deps.store.get_run(thread_id)
    assert run.status == "failed" and error in run.result
    [told] = dms(fake_slack, "U0REQ")
    assert "<@U0REQ>" in told and thread_id[:8] in told and advice in told, told
    events = [event for event, _ in audit(deps, thread_id)]
    assert "card_refused" in events and "failed" in events
    assert metric(deps, f'approval_cards_given_up_total{{error="{error}"}}') == 1.0
    posts = len(fake_slack.calls("chat.postMessage"))

    # Never tried again, never taken for a lost decision, however often the sweeps run, and a
    # Retry leaves the run failed without telling anyone twice.
    for _ in range(3):
        clock.advance(3600)
        deps.engine.recover(older_than=0)
    retried = deps.operations.control.retry(thread_id, "U0ASKER")
    assert retried.kind == RetryKind.CARD_REFUSED  # said as it is, not "Retrying"
    assert "a retry cannot post it" in retry_sentence(retried)
    deps.engine.recover(older_than=0)
    assert len(fake_slack.calls("chat.postMessage")) == posts
    assert deps.store.get_run(thread_id).status == "failed"
    [approval] = deps.store.run_approvals(thread_id)
    assert approval.status == "failed" and approval.applied_at is not None
    assert all(job.status != "pending" for job in deps.store.jobs_for(approval.id))


def test_a_card_that_fails_for_now_backs_off_and_is_posted_when_due(deps, fake_slack, clock):
    fake_slack.fail_next("chat.postMessage", status=503, error="unavailable", channel="C0REQ")
    fake_slack.fail_next("chat.postMessage", status=503, error="unavailable", channel="C0REQ")
    thread_id = start(deps, "Announce the outage", "C0REQ")
    [approval] = deps.store.run_approvals(thread_id)
    assert approval.pending and approval.ts is None and approval.card_attempts == 1
    # One 503 is one failed try: the card client leaves 5xx to this backoff, not to slack_sdk.
    assert [c.status for c in fake_slack.calls("chat.postMessage")] == [503]
    assert deps.store.get_run(thread_id).status == "waiting"

    clock.advance(TICK - 1)  # the first wait: the tick (jitter off)
    deps.engine.recover()
    assert len(fake_slack.calls("chat.postMessage")) == 1
    clock.advance(1)
    deps.engine.recover()  # the second try fails too: the wait doubles
    assert len(fake_slack.calls("chat.postMessage")) == 2
    clock.advance(2 * TICK - 1)
    deps.engine.recover()
    assert len(fake_slack.calls("chat.postMessage")) == 2
    clock.advance(1)
    deps.engine.recover()
    [card] = cards_in(fake_slack, "C0REQ")
    [approval] = deps.store.run_approvals(thread_id)
    assert approval.pending and approval.ts == card.response["ts"]

    retries = [detail for event, detail in audit(deps, thread_id) if event == "card_retry"]
    assert [(r["attempt"], r["wait"]) for r in retries] == [(1, TICK), (2, 2 * TICK)]
    assert metric(deps, "approval_card_retries_total") == 2.0
    assert dms(fake_slack, "U0REQ") == []


def test_a_channel_whose_cards_keep_failing_does_not_starve_another(deps, fake_slack, clock):
    deps.card_posts.limit = 12  # the sweep's room, smaller than the failing backlog
    fake_slack.fail_next("chat.postMessage", status=503, channel="C0BUSY", times=1000)
    for i in range(15):
        start(deps, f"Busy item {i}", "C0BUSY", f"U0BUSY{i:02d}")
        clock.advance(1)
    # A card elsewhere, younger than every one of them, whose first post failed too.
    fake_slack.fail_next("chat.postMessage", status=503, channel="C0REQ")
    start(deps, "Announce the outage", "C0REQ")
    assert cards_in(fake_slack, "C0REQ") == []

    clock.advance(TICK)  # every card above is due again
    busy_before = len(fake_slack.calls("chat.postMessage"))
    deps.engine.recover()
    assert len(cards_in(fake_slack, "C0REQ")) == 1
    busy = [c for c in fake_slack.calls("chat.postMessage")[busy_before:] if c.fault]
    assert len(busy) == deps.card_posts.per_channel  # at most this many a channel a tick
