"""One slow server does not stop everything (issue 18).

Ten ``check_url`` runs, admitted by the allowlist, all aimed at a loopback server that sends its
status line one byte every two seconds -- each call would hold a worker (and its run's lock)
for as long as the server liked, and before the fix eight of them took every worker and the
tick's stale-run sweep then waited on a run's lock for good. Meanwhile an ordinary ``/agent``
draft must get its card and be carried out, another request's reminder and expiry must go out
on time, ``/healthz`` must stay 200, and each stuck call must end "outcome unknown" at its
deadline, reported once. A short deadline (``WEBHOOK_DEADLINE=2``) and five slots (two rounds of
stuck calls) keep it to about 10 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from bot.slack.blocks import card as ids
from bot.store.audit_log import Audit
from bot.store.db import open_database
from bot.store.db.base import ACK_WINDOW
from tests.fakes.trickle import TrickleServer
from tests.inprocess.test_action_graph import propose
from tests.support.cards import blocks_text, wait_cards
from tests.support.faults import more_ticks

REQ = "U0REQ"
STUCK = 10
SLOTS = 5  # of the pool's 8 workers: the stuck calls take two rounds
DEADLINE = 2.0  # WEBHOOK_DEADLINE
REMIND, EXPIRE = 2.0, 5.0
TICK = 1.0


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    with TrickleServer(every=DEADLINE) as server:
        yield server


class HealthWatch:
    """``GET /healthz`` every 0.2 s in the background; every status it answered."""

    def __init__(self, url: str) -> None:
        self.statuses: list[int | str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, args=(url,), daemon=True)
        self._thread.start()

    def _poll(self, url: str) -> None:
        with httpx.Client(base_url=url, timeout=5) as http:
            while not self._stop.wait(0.2):
                try:
                    self.statuses.append(http.get("/healthz").status_code)
                except httpx.HTTPError as exc:
                    self.statuses.append(type(exc).__name__)

    def stop(self) -> list[int | str]:
        self._stop.set()
        self._thread.join(10)
        return self.statuses


def _card_for(fake_slack, text: str, count: int):
    [card] = [c for c in wait_cards(fake_slack, count) if text in c.text]
    return card


@pytest.mark.alone(units_beside=True)  # its bounds are seconds wide
@pytest.mark.timeout(90)
def test_ten_effects_stuck_on_a_trickling_server_stop_nothing_else(
    start_bot, fake_slack, trickle, database_url
):
    bot = start_bot(
        WEBHOOK_ALLOWLIST=trickle.base_url,
        WEBHOOK_DEADLINE=str(DEADLINE),
        WEBHOOK_SLOTS=str(SLOTS),
        RETRY_AFTER="1",
        REMIND_AFTER=f"{REMIND:g}s",
        EXPIRE_AFTER=f"{EXPIRE:g}s",
    )
    health = HealthWatch(bot.url)

    # A request nobody answers: its reminder and expiry fall due while the effects are stuck.
    bot.command("Announce the maintenance window")
    waiting = _card_for(fake_slack, "maintenance window", 1)
    [posted] = [c for c in fake_slack.calls("chat.postMessage") if c.ok and c.response]
    waiting_at = posted.time

    url = trickle.url("/status")
    for n in range(STUCK):  # listed and low risk: each runs at once, no card
        bot.command(propose("check_url", "low", f"Is the status page up? ({n})", url=url))
    deadline = time.monotonic() + 10
    while len(trickle.hits()) < SLOTS:  # the slots are taken: calls stuck mid status line
        assert time.monotonic() < deadline, f"only {len(trickle.hits())} calls reached it"
        time.sleep(0.05)

    # An ordinary run gets its card and is carried out meanwhile.
    asked = time.monotonic()
    bot.command("Draft the release note")
    draft = _card_for(fake_slack, "release note", 2)
    card_after = time.monotonic() - asked
    bot.click(ids.APPROVE, draft.approval_id, REQ)
    [done] = fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params["text"] == "Draft: Draft the release note"
    )
    carried_out_after = done.time - asked
    assert carried_out_after < 30 and card_after < 10, (card_after, carried_out_after)

    # The unanswered request's reminder and expiry went out on time (within two ticks).
    [reminder] = fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == waiting.ts and ":alarm_clock:" in c.params["text"],
        timeout=15,
    )
    assert REMIND <= reminder.time - waiting_at < REMIND + 2 * TICK + 1
    [expired] = fake_slack.wait_for(
        "chat.update",
        lambda c: (
            c.params["ts"] == waiting.ts and "Expired after" in blocks_text(c.params["blocks"])
        ),
        timeout=15,
    )
    # The expiry runs once its deadline's ack window is over.
    expire_at = EXPIRE + ACK_WINDOW
    assert expire_at <= expired.time - waiting_at < expire_at + 2 * TICK + 1

    # Each stuck call ended "outcome unknown" after its deadline, reported once; none repeated.
    def unknown(call) -> bool:
        return (
            f"check_url: Outcome unknown (no answer within {DEADLINE:g} s)" in call.params["text"]
        )

    reports = fake_slack.wait_for("chat.postMessage", unknown, count=STUCK, timeout=40)
    more_ticks([bot])  # sweeps after the last report would show any second one
    reports = [c for c in fake_slack.calls("chat.postMessage") if c.ok and unknown(c)]
    assert len(reports) == STUCK
    hits = trickle.hits()
    assert len(hits) == STUCK
    first_hit = min(h.at for h in hits)
    assert all(r.time - first_hit >= DEADLINE - 0.5 for r in reports)

    statuses = health.stop()
    assert statuses and set(statuses) == {200}, statuses

    db = open_database(database_url)
    try:
        events = [e for e in Audit(db).since(0) if e.event == "effect"]
    finally:
        db.close()
    outcomes = sorted(e.detail["outcome"] for e in events)
    assert outcomes == ["unknown"] * STUCK, outcomes
