"""The scheduler at scale: the database part of one tick at 1k and at 100k pending requests
(1% due), and how long 1,000 due reminders over 10 channels take to reach Slack.

Built in this process from the bot's own parts (``tests/support/inprocess.py``) on a new
PostgreSQL database each. For the tick's database part, Slack answers at once, in-process; for
the reminders, the tick posts to the fake Slack over HTTP, as the bot does.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from bench.seed import count_done_reminders, rearm_due, seed_pending
from bench.stack import BenchError, Fakes, postgres
from bot.__main__ import settle_heap
from bot.domain.models import RunRequest
from bot.slack.client import Slack
from bot.slack.scheduler import Scheduler
from bot.wiring import Deps
from tests.support.inprocess import Clock, inprocess_deps

DIGEST = re.compile(r"(\d+) requests are waiting for a decision")


class _AnswersAtOnce:
    """A Slack client whose every post succeeds at once: what is left of a tick is the database
    (and the Python around it)."""

    def chat_postMessage(self, **params: Any) -> dict[str, Any]:  # noqa: N802 - slack_sdk's name
        return {"ok": True, "channel": params["channel"], "ts": "1700000000.000001"}


@dataclass
class Backlog:
    deps: Deps
    url: str
    clock: Clock
    due: int


@contextmanager
def backlog(fakes: Fakes, pending: int, due_every: int) -> Iterator[Backlog]:
    """A new database with ``pending`` requests waiting, every ``due_every``-th reminder due."""
    with postgres() as url:
        clock = Clock()
        deps = inprocess_deps(fakes.slack, fakes.openai, url, clock)
        try:
            deps.engine.start(RunRequest("draft", "Bench template", "U0REQ", "C0REQ", "C0REQ"))
            [template] = deps.store.pending(1)
            due = seed_pending(url, template.id, pending, clock(), due_every=due_every)
            settle_heap()  # as the bot's process does once it has started (bot.__main__)
            yield Backlog(deps, url, clock, due)
        finally:
            deps.close()


def tick_ms(fakes: Fakes, sizes: tuple[int, ...], rounds: int) -> dict[int, list[float]]:
    """Milliseconds of one tick at each size (1% due), sizes alternating round by round."""
    times: dict[int, list[float]] = {size: [] for size in sizes}
    with ExitStack() as stack:
        backlogs = {size: stack.enter_context(backlog(fakes, size, 100)) for size in sizes}
        for round_ in range(rounds):
            for size in sizes if round_ % 2 == 0 else tuple(reversed(sizes)):
                times[size].append(_one_tick(backlogs[size]))
    return times


def _one_tick(b: Backlog) -> float:
    rearm_due(b.url, b.clock())
    d = b.deps
    scheduler = Scheduler(
        d.store,
        d.engine,
        Slack(_AnswersAtOnce()),  # type: ignore[arg-type]
        d.health.ticked,
        d.cards,
        d.engine.journal,
    )
    start = time.perf_counter()
    ran = scheduler.tick()
    elapsed = (time.perf_counter() - start) * 1000
    done = count_done_reminders(b.url)
    if ran != b.due or done != b.due:
        raise BenchError(f"a tick with {b.due} reminders due ran {ran} jobs, finished {done}")
    return elapsed


def notify_seconds(fakes: Fakes, due: int = 1000, timeout: float = 120) -> float:
    """Seconds from the first tick until every one of ``due`` reminders (in 10 channels) has
    reached the fake Slack, in its card's thread or counted in a digest; ticks back to back."""
    with backlog(fakes, due, 1) as b:
        first_call = len(fakes.slack.calls())
        start = time.monotonic()
        while True:
            b.deps.scheduler.tick()
            told, last = _reminders_posted(fakes, first_call)
            if told >= due or time.monotonic() - start > timeout:
                break
        done = count_done_reminders(b.url)
    if told != due or done != due:
        raise BenchError(f"{due} reminders due: {told} reached Slack, {done} marked done")
    return last - start


def _reminders_posted(fakes: Fakes, since: int) -> tuple[int, float]:
    """Reminders in what was posted since call ``since``, and when the last of them arrived."""
    told, last = 0, 0.0
    for call in fakes.slack.calls()[since:]:
        text = call.params.get("text") or ""
        if call.method != "chat.postMessage" or not call.ok:
            continue
        if match := DIGEST.search(text):
            told += int(match.group(1))
        elif "for a decision" in text:
            told += 1
        else:
            continue
        last = max(last, call.time)
    return told, last
