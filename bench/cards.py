"""Pending cards on the running bot, clicks on them, and when their results reached Slack.

The results are read from the fake Slack's own record: each call carries the moment it arrived
(``Call.time``, on this process's monotonic clock), so polling here adds nothing to a figure.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import httpx
import psycopg

from bench.stack import BenchError
from bot.slack.blocks import card as ids
from tests.fakes.slack import FakeSlack
from tests.support import slack_requests as sr
from tests.support.burst import fire_at_once, requester, wait_for_cards
from tests.support.cards import Card

BATCH = 50  # /agent commands sent at once while setting up


@dataclass(frozen=True)
class Pending:
    text: str  # what was asked; the bot posts "Draft: <text>" once it is approved
    user: str
    card: Card

    @property
    def result(self) -> str:
        return f"Draft: {self.text}"


def open_cards(url: str, slack: FakeSlack, n: int, tag: str) -> list[Pending]:
    """``n`` runs started with ``/agent`` and waiting on their cards."""
    texts = [f"Bench {tag} item {i:04d}" for i in range(n)]
    for start in range(0, n, BATCH):
        chunk = range(start, min(n, start + BATCH))
        acks = fire_at_once(url, [sr.command_body(texts[i], requester(i)) for i in chunk])
        if any(a.status != 200 for a in acks):
            raise BenchError(f"/agent not accepted while setting up: {acks}")
    cards = wait_for_cards(slack, texts, timeout=60 + n / 2)
    pairs = enumerate(zip(texts, cards, strict=True))
    return [Pending(text, requester(i), card) for i, (text, card) in pairs]


def click(http: httpx.Client, pending: Pending) -> None:
    """Approve, as Slack sends the click; raises unless it was acked."""
    c = pending.card
    body = sr.click_body(ids.APPROVE, c.approval_id, pending.user, c.channel, c.ts)
    answer = http.post("/slack/events", content=body, headers=sr.sign(body))
    if answer.status_code != 200:
        raise BenchError(f"click on {c.approval_id} answered {answer.status_code}")


def arrivals(slack: FakeSlack, texts: Iterable[str], timeout: float, poll: float) -> list[float]:
    """When each text was first posted with ``chat.postMessage`` (monotonic), in order."""
    wanted = list(texts)
    found: dict[str, float] = {}
    seen = 0
    deadline = time.monotonic() + timeout
    while True:
        calls = slack.calls("chat.postMessage")
        for call in calls[seen:]:
            text = call.params.get("text")
            if text in wanted and text not in found:
                found[text] = call.time
        seen = len(calls)
        if len(found) == len(set(wanted)):
            return [found[t] for t in wanted]
        if time.monotonic() > deadline:
            missing = len(set(wanted)) - len(found)
            raise BenchError(f"{missing} of {len(wanted)} results never reached Slack")
        time.sleep(poll)


def check_posted_once(slack: FakeSlack, texts: Sequence[str]) -> None:
    """Every result was posted, once: no decision was lost or carried out twice."""
    counts: dict[str, int] = {}
    for call in slack.calls("chat.postMessage"):
        text = call.params.get("text")
        if call.ok and isinstance(text, str):
            counts[text] = counts.get(text, 0) + 1
    wrong = [t for t in texts if counts.get(t) != 1]
    if wrong:
        times = counts.get(wrong[0], 0)
        raise BenchError(
            f"{len(wrong)} result(s) not posted exactly once, e.g. {wrong[0]!r} ({times} times)"
        )


def check_applied(database_url: str, pendings: Sequence[Pending], timeout: float = 30) -> None:
    """Every clicked request is approved, its decision applied to its thread, and the run done
    (its report posted: the last thing the bot does after the result)."""
    wanted = [p.card.approval_id for p in pendings]
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            (done,) = conn.execute(
                "SELECT count(*) FROM approvals a JOIN runs r USING (thread_id) WHERE a.id = "
                "ANY(%s) AND a.status = 'approved' AND a.applied_at IS NOT NULL "
                "AND r.status = 'done'",
                (wanted,),
            ).fetchone()
            if done == len(wanted):
                return
            if time.monotonic() > deadline:
                raise BenchError(f"only {done} of {len(wanted)} decisions were applied and done")
            time.sleep(0.2)
