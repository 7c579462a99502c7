"""A card post Slack carried out but answered too late for the bot, with the bot in this process
and ticks the test makes (was tests/scenarios/test_faults.py, which waited out a real 3 s
client timeout and the sweeps after it)."""

from __future__ import annotations

import time
from collections import Counter

import pytest

from tests.fakes.slack import TIMEOUT, FakeSlack
from tests.support.cards import approval_id_of

REQ = "U0REQ"
CLIENT_TIMEOUT = 1  # SLACK_TIMEOUT: how long the bot waits for Slack's answer


def card_posts(slack: FakeSlack) -> Counter[str]:
    """Approval id -> how many cards Slack really posted for it."""
    return Counter(
        approval_id_of(c.params.get("blocks") or []) or ""
        for c in slack.calls("chat.postMessage")
        if c.ok and approval_id_of(c.params.get("blocks") or []) is not None
    )


def _until(ready, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.05)


@pytest.mark.xfail(
    strict=True,
    reason="known limit: a card post that timed out (Slack posted it, the answer never came) "
    "is posted again by the recovery sweep; finding the first copy needs conversations.history "
    "(channels:history), a scope the bot does not ask for. Clicking the first copy retires it "
    "and points at the second (test_exactly_once)",
)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_card_post_that_times_out_is_not_posted_twice(bot_in_process, fake_slack):
    bot = bot_in_process(RETRY_AFTER="1", SLACK_TIMEOUT=str(CLIENT_TIMEOUT))
    fake_slack.fail_randomly(
        1.0, statuses=(TIMEOUT,), methods=["chat.postMessage"], hang=CLIENT_TIMEOUT + 1
    )
    bot.command("Slow Slack item", user=REQ)
    _until(lambda: fake_slack.faulted(), "the card post")
    fake_slack.stop_failing()  # only the first post is held
    [held] = fake_slack.faulted()
    bot.tick_until(lambda: bool(card_posts(fake_slack)), "post the card", advance=5)
    _until(lambda: held.status is not None, "Slack to carry out the held post")
    for _ in range(3):  # sweeps after Slack did it: any second copy would be posted by now
        bot.tick(5)
        bot.settle()
    print(f"card posts after a timed-out post: {dict(card_posts(fake_slack))}")
    [card] = list(card_posts(fake_slack))
    assert card_posts(fake_slack) == {card: 1}


@pytest.mark.alone(units_beside=True)  # it bounds how long the tick takes
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_tick_serves_lone_reminders_a_few_at_a_time_when_slack_does_not_answer(
    bot_in_process, fake_slack
):
    # One reminder due in each of eight channels, and Slack holding every post: served four at
    # a time, the tick waits out about two timeouts, not eight (it holds the next tick, with
    # the recovery sweep and every expiry, and /healthz turns 503 when a tick is too old).
    bot = bot_in_process(SLACK_TIMEOUT=str(CLIENT_TIMEOUT), REMIND_AFTER="60s", EXPIRE_AFTER="1h")
    for n in range(8):
        bot.command(f"Draft note {n}", channel=f"C0CH{n}")
    _until(lambda: len(card_posts(fake_slack)) == 8, "eight cards")
    bot.settle()
    fake_slack.hold("chat.postMessage")
    try:
        started = time.monotonic()
        assert bot.tick(61) == 8
        took = time.monotonic() - started
    finally:
        fake_slack.release("chat.postMessage")
    reminders = [
        c for c in fake_slack.calls("chat.postMessage") if ":alarm_clock:" in str(c.params)
    ]
    assert len(reminders) == 8
    assert took < 5 * CLIENT_TIMEOUT, f"the tick took {took:.1f} s"
