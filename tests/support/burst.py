"""Bursts of simultaneous Slack requests against a running bot, and how fast each was acked.

Used by ``tests/scenarios/test_ack_burst.py`` and ``bench/ack_latency.py``: ``n`` people type
``/agent`` at the same moment, then, once every card is up, all click Approve at the same moment.
Each request goes out on its own connection from its own thread, released together by a barrier,
and is timed from just before it is sent until its answer has arrived.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from bot.slack.blocks import card as ids
from tests.fakes.slack import Call, FakeSlack
from tests.support import slack_requests as sr
from tests.support.cards import Card, approval_id_of, blocks_text

PERCENTILES = (50, 95, 99)


@dataclass(frozen=True)
class Ack:
    status: int | None  # None: no answer at all (connection dropped, timed out)
    seconds: float
    error: str = ""


@dataclass
class Burst:
    """What one burst of ``/agent`` commands and Approve clicks produced."""

    requests: list[str]  # the request texts, one per person
    commands: list[Ack]
    clicks: list[Ack]
    cards: list[Card]


def fire_at_once(
    url: str, bodies: Sequence[bytes], timeout: float = 30, sign: bool = True
) -> list[Ack]:
    """POST every body to ``/slack/events`` at the same moment, each signed as Slack signs it
    (or not signed at all, with ``sign=False``)."""
    barrier = threading.Barrier(len(bodies))

    def one(body: bytes) -> Ack:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            headers = sr.sign(body) if sign else {"Content-Type": "text/plain"}
            barrier.wait()
            start = time.perf_counter()
            try:
                response = client.post("/slack/events", content=body, headers=headers)
            except httpx.HTTPError as exc:
                return Ack(None, time.perf_counter() - start, repr(exc))
            return Ack(response.status_code, time.perf_counter() - start)

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, bodies))


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: the smallest value with at least p% of values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def latency_summary(acks: Sequence[Ack]) -> dict[str, float]:
    """p50/p95/p99/max in milliseconds."""
    seconds = [a.seconds for a in acks]
    summary = {f"p{p}": percentile(seconds, p) * 1000 for p in PERCENTILES}
    summary["max"] = max(seconds) * 1000
    return summary


def describe(name: str, acks: Sequence[Ack]) -> str:
    figures = ", ".join(f"{k} {v:.1f} ms" for k, v in latency_summary(acks).items())
    statuses: dict[str, int] = {}
    for ack in acks:
        key = str(ack.status or f"no answer ({ack.error})")
        statuses[key] = statuses.get(key, 0) + 1
    answered = ", ".join(f"{count} x {status}" for status, count in sorted(statuses.items()))
    return f"{name}: {figures} ({len(acks)} requests: {answered})"


def requester(i: int) -> str:
    return f"U0BURST{i:03d}"


def card_for(text: str, call: Call) -> bool:
    return (
        call.ok
        and approval_id_of(call.params.get("blocks") or []) is not None
        and (f"Draft: {text}" in blocks_text(call.params["blocks"]))
    )


def wait_for_cards(slack: FakeSlack, requests: Sequence[str], timeout: float) -> list[Card]:
    """One card per request, in request order (each is waited for until ``timeout`` overall)."""
    deadline = time.monotonic() + timeout
    cards = []
    for text in requests:
        left = max(0.1, deadline - time.monotonic())
        [call] = slack.wait_for("chat.postMessage", lambda c, t=text: card_for(t, c), timeout=left)
        assert call.response is not None
        cards.append(
            Card(
                approval_id_of(call.params["blocks"]) or "",
                str(call.response["channel"]),
                str(call.response["ts"]),
                call.params["blocks"],
            )
        )
    return cards


def wait_for_outcomes(slack: FakeSlack, burst: Burst, timeout: float) -> None:
    """Every approved draft posted, and every card's thread told how it went."""
    posted = {f"Draft: {text}" for text in burst.requests}
    slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("text") in posted,
        timeout=timeout,
        count=len(posted),
    )
    threads = {card.ts for card in burst.cards}
    slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") in threads,
        timeout=timeout,
        count=len(threads),
    )


def run_burst(url: str, slack: FakeSlack, n: int = 40, tag: str = "", timeout: float = 60) -> Burst:
    """``n`` simultaneous ``/agent`` commands, then (cards up) ``n`` simultaneous Approves."""
    requests = [f"Tell the team about item {tag}{i:03d}" for i in range(n)]
    commands = fire_at_once(
        url, [sr.command_body(text, requester(i)) for i, text in enumerate(requests)]
    )
    cards = wait_for_cards(slack, requests, timeout)
    clicks = fire_at_once(
        url,
        [
            sr.click_body(ids.APPROVE, card.approval_id, requester(i), card.channel, card.ts)
            for i, card in enumerate(cards)
        ],
    )
    burst = Burst(requests, commands, clicks, cards)
    wait_for_outcomes(slack, burst, timeout)
    return burst
