"""Card posts, each on its own schedule (bot.slack.card_posts.CardPosts), on both databases
with the real slack_sdk client against the fake Slack server: a post that fails for now waits
out a doubling backoff before the sweep tries again; the sweep posts only what is due, a few
per channel; a refusal closes the request and tells its requester once a run."""

from __future__ import annotations

TICK = 30.0  # the CardPosts of tests/slack/conftest.py: retry_after, no jitter


def _fail_posts(fake_slack, times: int = 1, channel: str | None = None) -> None:
    fake_slack.fail_next(
        "chat.postMessage", status=503, error="unavailable", times=times, channel=channel
    )


def test_a_failed_post_is_due_again_after_a_backoff_that_doubles(parts, fake_slack, clock):
    approval = parts.request(parts.run())
    _fail_posts(fake_slack, times=2)
    assert parts.card_posts.post(approval) == "retry"
    first = parts.approval(approval.id)

    clock.advance(TICK - 1)
    assert parts.card_posts.sweep(older_than=60) == {}  # not due yet
    clock.advance(1)
    assert parts.card_posts.sweep(older_than=60) == {"retry": 1}
    second = parts.approval(approval.id)
    assert (first.card_attempts, second.card_attempts) == (1, 2)

    clock.advance(2 * TICK)
    assert parts.card_posts.sweep(older_than=60) == {"posted": 1}
    posted = parts.approval(approval.id)
    assert posted.ts is not None and posted.card_attempts == 2
    assert len([c for c in fake_slack.calls("chat.postMessage") if c.ok]) == 1


def test_a_card_never_tried_is_the_sweeps_only_once_it_is_old_enough(parts, clock):
    approval = parts.request(parts.run())  # a crash came before its first post
    assert parts.card_posts.sweep(older_than=60) == {}
    clock.advance(61)
    assert parts.card_posts.sweep(older_than=60) == {"posted": 1}
    assert parts.approval(approval.id).ts is not None


def test_ensure_does_nothing_for_a_card_posted_or_a_request_decided(parts):
    from bot.domain.models import Decision

    posted = parts.request(parts.run("thread-1"), "i1")
    assert parts.card_posts.post(posted) == "posted"
    assert parts.card_posts.ensure(posted) is None
    decided = parts.request(parts.run("thread-2"), "i2")
    parts.store.claim(decided.id, Decision("approve", "U0ASKER"))
    assert parts.card_posts.ensure(decided) is None


def test_a_channel_whose_cards_keep_failing_takes_no_more_than_its_share(parts, fake_slack, clock):
    parts.card_posts.per_channel = 2
    for n in range(4):
        parts.request(parts.run(f"thread-{n}"), f"i{n}")
    clock.advance(61)
    _fail_posts(fake_slack, times=10, channel="C0CARDS")

    assert parts.card_posts.sweep(older_than=60) == {"retry": 2}
    clock.advance(61)
    assert parts.card_posts.sweep(older_than=60) == {"retry": 2}  # the other two, now
    attempts = sorted(a.card_attempts for a in parts.store.pending())
    assert attempts == [1, 1, 1, 1]


def test_a_refused_run_is_told_once_though_several_of_its_cards_were_refused(parts, fake_slack):
    run = parts.run(requester="U0ASKER")
    first, second = parts.request(run, "i1"), parts.request(run, "i2")
    fake_slack.set_channel("C0CARDS", archived=True)

    assert parts.card_posts.post(first) == "refused"
    assert parts.card_posts.post(second) == "refused"

    assert {parts.approval(a.id).status for a in (first, second)} == {"failed"}
    dms = [c for c in fake_slack.calls("chat.postMessage") if c.params["channel"] == "U0ASKER"]
    assert len(dms) == 1
