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
