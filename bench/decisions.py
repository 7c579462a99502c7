"""Decisions, bot against bare LangGraph: one click at a time (click to result posted), and
sustained (many cards, several people clicking at once).

Each bot decision starts when the click is sent and ends when its result (the approved draft)
reaches Slack; each baseline decision starts at ``invoke(Command(resume=...))`` and ends when its
one POST reaches Slack. Both are checked afterwards: every result posted exactly once, and every
thread really resumed (the bot's requests applied and runs done; the baseline's checkpoints at
the end of the graph).
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from bench import cpu
from bench.bare_langgraph import BareLangGraph
from bench.cards import Pending, arrivals, check_applied, check_posted_once, click, open_cards
from bench.cpu import PerDecision
from bench.stack import BenchError
from tests.fakes.slack import FakeSlack

SETTLE = 0.3  # seconds between timed decisions: the last one's report and audit are written


def decide_latency(
    url: str, database_url: str, slack: FakeSlack, bare: BareLangGraph, n: int, tag: str
) -> tuple[list[float], list[float]]:
    """``n`` single decisions each way, alternating; milliseconds, bot then bare."""
    pendings = open_cards(url, slack, n, tag)
    drafts = [f"Bare {tag} draft {i:04d}" for i in range(n)]
    threads = [bare.pause(d) for d in drafts]
    time.sleep(1.0)
    bot_ms: list[float] = []
    bare_ms: list[float] = []
    with httpx.Client(base_url=url, timeout=10) as http:
        for i in range(n):
            one_bot = lambda p=pendings[i]: _timed(slack, p.result, lambda: click(http, p))  # noqa: E731
            one_bare = lambda i=i: _timed(slack, drafts[i], lambda: bare.resume(threads[i]))  # noqa: E731
            first, second = (one_bot, one_bare) if i % 2 == 0 else (one_bare, one_bot)
            for one in (first, second):
                ms = one()
                (bot_ms if one is one_bot else bare_ms).append(ms)
                time.sleep(SETTLE)
    _check(slack, database_url, pendings, bare, threads, drafts)
    return bot_ms, bare_ms


def _timed(slack: FakeSlack, result: str, act: Callable[[], None]) -> float:
    start = time.monotonic()
    act()
    [arrived] = arrivals(slack, [result], timeout=30, poll=0.005)
    return (arrived - start) * 1000


@dataclass(frozen=True)
class Sustained:
    per_s: float  # decisions a second, first click to last result in Slack
    cpu: PerDecision  # CPU a decision cost, from the first click until every run was done


def bot_throughput(
    urls: str | Sequence[str],
    database_url: str,
    slack: FakeSlack,
    n: int,
    clickers: int,
    tag: str,
    pids: Sequence[int] = (),
) -> Sustained:
    """Decisions a second: ``n`` cards approved by ``clickers`` people clicking as fast as
    their acks come back, until the last result reached Slack. With several bot processes
    (``urls``, one database), the cards are opened on each in turn and the clicks go to each
    in turn, as a load balancer would send them. ``pids``: the bot processes whose CPU counts."""
    bots = [urls] if isinstance(urls, str) else list(urls)
    pendings: list[Pending] = []
    share = -(-n // len(bots))
    for k, url in enumerate(bots):
        pendings += open_cards(url, slack, min(share, n - len(pendings)), f"{tag}p{k}")
    time.sleep(1.0)
    local = threading.local()

    def approve(numbered: tuple[int, Pending]) -> None:
        if not hasattr(local, "http"):
            local.http = [httpx.Client(base_url=url, timeout=10) for url in bots]
        i, pending = numbered
        click(local.http[i % len(bots)], pending)

    before = cpu.spent(pids, database_url)
    start = time.monotonic()
    with ThreadPoolExecutor(clickers) as pool:
        list(pool.map(approve, enumerate(pendings)))
    done = max(arrivals(slack, [p.result for p in pendings], timeout=60 + n, poll=0.1))
    check_posted_once(slack, [p.result for p in pendings])
    check_applied(database_url, pendings)
    spent = cpu.per_decision(before, cpu.spent(pids, database_url), n)
    return Sustained(n / (done - start), spent)


def bare_throughput(
    slack: FakeSlack, bare: BareLangGraph, n: int, workers: int, tag: str, database_url: str
) -> Sustained:
    """The baseline's decisions a second; its CPU is this process's (the graph runs here,
    beside the fake Slack) and its database's backends."""
    drafts = [f"Bare {tag} sustained {i:04d}" for i in range(n)]
    threads = [bare.pause(d) for d in drafts]
    before = cpu.spent((), database_url)
    start = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(bare.resume, threads))
    done = max(arrivals(slack, drafts, timeout=60, poll=0.1))
    check_posted_once(slack, drafts)
    _check_bare(bare, threads)
    spent = cpu.per_decision(before, cpu.spent((), database_url), n)
    return Sustained(n / (done - start), spent)


def _check(
    slack: FakeSlack,
    database_url: str,
    pendings: Sequence[Pending],
    bare: BareLangGraph,
    threads: Sequence[str],
    drafts: Sequence[str],
) -> None:
    check_posted_once(slack, [p.result for p in pendings] + list(drafts))
    check_applied(database_url, pendings)
    _check_bare(bare, threads)


def _check_bare(bare: BareLangGraph, threads: Sequence[str]) -> None:
    unfinished = [t for t in threads if not bare.finished(t)]
    if unfinished:
        raise BenchError(f"{len(unfinished)} baseline thread(s) did not run to their end")


def median(values: Sequence[float]) -> float:
    return statistics.median(values)
