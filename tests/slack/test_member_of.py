"""Slack.member_of: whether a Slack user is in a channel, read from conversations.members page
by page (the fake pages as Slack does), within the client's deadline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack.client import MEMBER_PAGE, Slack
from bot.slack.web_client import make_client
from tests.fakes import FakeSlack


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def _client(fake: FakeSlack, timeout: int = 5) -> Slack:
    return Slack(make_client(fake.bot_token, fake.api_url, timeout=timeout))


def test_a_member_on_a_later_page_is_found_and_the_reading_stops_there(slack: FakeSlack) -> None:
    users = [f"U{n:05d}" for n in range(MEMBER_PAGE * 2 + 10)]
    slack.set_members("CBIG", users)
    assert _client(slack).member_of("CBIG", users[MEMBER_PAGE + 3])
    assert len(slack.calls("conversations.members")) == 2
    assert not _client(slack).member_of("CBIG", "U0ELSE")  # every page read: not there
    assert len(slack.calls("conversations.members")) == 2 + 3


def test_a_channel_the_bot_cannot_see_has_no_members_for_it(slack: FakeSlack) -> None:
    slack.set_channel("GSECRET", exists=False)
    slack.set_members("GSECRET", ["U0REQ"])
    assert not _client(slack).member_of("GSECRET", "U0REQ")


def test_slack_failing_is_an_error_not_a_no(slack: FakeSlack) -> None:
    slack.fail_next("conversations.members", status=400, error="fetch_members_failed")
    with pytest.raises(SlackApiError):
        _client(slack).member_of("C0REQ", "U0REQ")
