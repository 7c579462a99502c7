"""Helpers for the exactly-once tests, in process and across bot processes."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from bot.store.db import open_database
from bot.store.repository import Store


def race(actions):
    with ThreadPoolExecutor(len(actions)) as pool:
        return list(pool.map(lambda f: f(), actions))


def draft_posts(fake_slack, text):
    return [c for c in fake_slack.calls("chat.postMessage") if c.params.get("text") == text]


def wait_card_recorded(database_url, approval_id, timeout=10.0):
    """Until the bot has stored the posted card's ts: a crash between Slack's answer to
    chat.postMessage and that write is the one place a restart can post a second card."""
    db = open_database(database_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            approval = Store(db, time.time).get_approval(approval_id)
            if approval is not None and approval.ts is not None:
                return
            time.sleep(0.05)
        raise AssertionError(f"the bot never stored the ts of approval {approval_id}'s card")
    finally:
        db.close()
