"""How much of the house one Approve crosses: the project's modules whose code runs, in any of
the bot's threads, between the click's HTTP request and the posted result (issue 20 asks for at
most 15). Today it is 54 -- 4 of them the shipped graph itself, 7 Block Kit builders -- so this is
a ratchet: the count may only go down, and the bound with it, but for a module split by concern,
named here. (45 before the engine's 1,117 lines became engine, deciding, applying, asking,
expiry and run_ends: an Approve runs the first three and run_ends. 48 before store/decisions'
578 lines became decisions, the claims and votes, and attempts, the bookkeeping of applying.
49 before three more splits, each of whose new modules an Approve runs but errors: the Block Kit
card's 509 lines became card, the buttons and the two states, proposals, what the agent
proposes cut to fit, and decided, how a decision reads; slack/client's 467 became client, the
calls, web_client, each call's deadline and retries, and errors, what Slack's errors say; and
core/deciding's 422 became deciding, claiming, the claim, and origins, where a click came from.)"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

import pytest

from bot.slack.blocks import card as card_ids
from tests.support.cards import wait_card

OURS = ("bot.", "graphs.")
BESIDE = ("refresh-", "lease-heartbeat")
NOW = 54  # modules an Approve crosses today; issue 20's target is 15


class Touched:
    """Every thread started from now on, and this one, report the modules they run code of
    while ``recording`` is set -- but the background threads that keep /healthz and /metrics
    current and the lease heartbeat, which run on a clock of their own, not for the click."""

    def __init__(self) -> None:
        self.recording = False
        self.modules: set[str] = set()

    def __call__(self, frame: FrameType, event: str, _arg: Any) -> None:
        if self.recording and event == "call":
            name = frame.f_globals.get("__name__", "")
            if name.startswith(OURS) and not threading.current_thread().name.startswith(BESIDE):
                self.modules.add(name)


@pytest.fixture
def touched() -> Iterator[Touched]:
    profile = Touched()
    threading.setprofile(profile)
    sys.setprofile(profile)
    try:
        yield profile
    finally:
        sys.setprofile(None)
        threading.setprofile(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_approve_crosses_no_more_modules_than_it_did(touched, bot_in_process, fake_slack):
    bot = bot_in_process()
    bot.command("Draft an announcement that the VPN is down tonight")
    card = wait_card(fake_slack)
    bot.settle()

    touched.recording = True
    assert bot.click(card_ids.APPROVE, card.approval_id, "U0REQ").status_code == 200
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    bot.settle()
    touched.recording = False
    assert "bot.core.engine" in touched.modules and "graphs.draft" in touched.modules
    assert len(touched.modules) <= NOW, "\n".join(sorted(touched.modules))
