"""Starting the bot logs nothing that is not news: Bolt's "`token` will be unused" is dropped."""

from __future__ import annotations

import logging

import pytest
from slack_bolt import App
from slack_sdk import WebClient

import bot.slack.app  # noqa: F401 - installs the filter, as building the bot's app does


def test_bolt_no_longer_warns_that_the_token_is_unused(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-1")  # Bolt reads it even when given a client
    with caplog.at_level(logging.WARNING):
        App(
            client=WebClient(token="xoxb-1"),
            signing_secret="s",
            token_verification_enabled=False,
        )
        logging.getLogger("slack_bolt.App").warning("other warnings still show")
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "will be unused" in m]
    assert "other warnings still show" in messages
