"""Cards that can never be posted do not starve the ones that can (issue 18), with the bot in
this process on both databases: 60 runs started where the bot cannot post (30 from a direct
message between people: ``channel_not_found``; 30 from a channel it is not in:
``not_in_channel``), then one run whose first card post gets a 503. That card is posted by the
next tick; each of the 60 requesters is told why, and what to do, once; their runs end failed.
(Was tests/scenarios/test_card_sweep.py, against the bot's process with a real one-second tick.)"""

from __future__ import annotations

import json
from collections import Counter

from bot.store.db import open_database
from tests.support.cards import approval_id_of

REFUSED = 60
PLACES = {"D0PEOPLE": {"exists": False}, "C0NOBOT": {"member": False}}
TICK = 1.0  # SCHEDULER_TICK in the tests' environment


def requester(i: int) -> str:
    return f"U0NOPOST{i:02d}"


def place(i: int) -> str:
    return list(PLACES)[i % len(PLACES)]


def dms(fake_slack) -> Counter[str]:
    """User -> how many direct messages the bot sent them."""
    calls = fake_slack.calls("chat.postMessage")
    return Counter(c.params["channel"] for c in calls if c.ok and c.params["channel"][0] == "U")


def rows(database_url: str, sql: str) -> list[dict]:
    db = open_database(database_url)
    try:
        return db.fetch_all(sql)
    finally:
        db.close()


def cards(fake_slack) -> list:
    return [
        c
        for c in fake_slack.calls("chat.postMessage")
        if c.ok and approval_id_of(c.params.get("blocks") or [])
    ]


def test_refused_cards_are_told_once_and_a_503_card_is_posted_by_the_next_tick(
    bot_in_process, fake_slack, database_url
):
    for channel, access in PLACES.items():
        fake_slack.set_channel(channel, **access)
    bot = bot_in_process()
    for i in range(REFUSED):
        assert bot.command(f"Nowhere to post {i:02d}", requester(i), place(i)).status_code == 200
    bot.settle()
    assert len(dms(fake_slack)) == REFUSED  # each requester told

    fake_slack.fail_next(
        "chat.postMessage", status=503, error="unavailable", retry_after=None, channel="C0REQ"
    )
    assert bot.command("Announce the outage").status_code == 200
    bot.settle()
    [failed] = fake_slack.wait_for("chat.postMessage", lambda c: c.fault == "503")
    assert cards(fake_slack) == []
    # Its backoff (at most one tick) runs out, and the next tick's sweep posts it.
    bot.tick(TICK)
    bot.settle()
    [card] = cards(fake_slack)
    assert card.params["channel"] == "C0REQ"

    # More ticks sweep after the last of them was told: still once each.
    for _ in range(3):
        bot.tick(TICK)
        bot.settle()
    told = dms(fake_slack)
    assert told == {requester(i): 1 for i in range(REFUSED)}, told
    texts = {
        c.params["channel"]: c.params["text"]
        for c in fake_slack.calls("chat.postMessage")
        if c.ok and c.params["channel"][0] == "U"
    }
    for i in range(REFUSED):
        text = texts[requester(i)]
        assert text.startswith(f"<@{requester(i)}>") and "APPROVALS_CHANNEL" in text, text
        if place(i) == "C0NOBOT":
            assert "/invite" in text, text
    # No card ever reached the places the bot cannot post in, and no post there was repeated.
    tried = Counter(c.params["channel"] for c in fake_slack.calls("chat.postMessage"))
    assert tried["D0PEOPLE"] == tried["C0NOBOT"] == REFUSED // 2, tried
    assert len(cards(fake_slack)) == 1

    runs = rows(database_url, "SELECT requester, status FROM runs")
    statuses = Counter(r["status"] for r in runs if r["requester"].startswith("U0NOPOST"))
    assert statuses == {"failed": REFUSED}, statuses
    retried = rows(database_url, "SELECT detail FROM audit WHERE event = 'card_retry'")
    assert [json.loads(r["detail"])["attempt"] for r in retried] == [1]
    refused = rows(database_url, "SELECT detail FROM audit WHERE event = 'card_refused'")
    errors = Counter(json.loads(r["detail"])["error"] for r in refused)
    assert errors == {"channel_not_found": 30, "not_in_channel": 30}, errors
    metrics = bot.http.get("/metrics").text
    assert 'approval_cards_given_up_total{error="channel_not_found"} 30.0' in metrics
    assert "approval_card_retries_total 1.0" in metrics
