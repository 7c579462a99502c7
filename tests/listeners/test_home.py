"""App Home, called as Bolt would call it, with a fake Slack client."""

from __future__ import annotations

import pytest

from bot.slack.listeners.home import home_opened
from tests.listeners.doubles import REQUESTER, approval, run, world


def test_opening_the_home_tab_publishes_what_waits_and_your_runs():
    w = world()
    w.add(approval())
    w.store.runs.append(run())
    home_opened({"type": "app_home_opened", "user": REQUESTER, "tab": "home"}, deps=w.deps)
    ((user, view),) = [c.args for c in w.log.of("publish_home")]
    assert user == REQUESTER
    assert view["type"] == "home"
    text = str(view["blocks"])
    assert "a note" in text


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_home_opened", "user": REQUESTER, "tab": "messages"},
        {"type": "app_home_opened", "tab": "home"},
        {"type": "app_home_opened", "user": "", "tab": "home"},
    ],
)
def test_other_tabs_and_events_without_a_user_publish_nothing(event):
    w = world()
    home_opened(event, deps=w.deps)
    assert w.log.of("publish_home") == []
