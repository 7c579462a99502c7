"""The bot's memory with nothing waiting and with 100,000 requests waiting.

The bot runs as ``python -m bot`` (ticking every second). Both readings come after the same
activity: a few runs started and approved, the App Home opened, ``/metrics`` scraped and a few
ticks; then 100,000 pending requests are added to its database (copies of one it made), the same
activity is repeated and the resident set size (VmRSS) read again.
"""

from __future__ import annotations

import time
from pathlib import Path

from bench.seed import seed_pending
from bench.stack import BenchError, Fakes, postgres, running_bot
from tests.support import slack_requests as sr
from tests.support.botproc import BotProcess
from tests.support.burst import run_burst, wait_for_cards

MIB = 1024 * 1024
TICKS = 2  # seconds of ticking before each reading


def rss_mb(fakes: Fakes, workdir: Path, pending: int) -> tuple[float, float]:
    """RSS in MiB with 0 pending and with ``pending`` pending."""
    with postgres() as url, running_bot(fakes, url, workdir, SCHEDULER_TICK="1") as bot:
        _activity(bot, fakes, "before")
        empty = _rss(bot)
        template = _one_pending(bot, fakes)
        seed_pending(url, template, pending, time.time(), due_every=pending + 1)
        _activity(bot, fakes, "after")
        full = _rss(bot)
        # The count is refreshed in the background (every second here), never at the scrape.
        counted = f"approval_requests_pending {float(pending + 1)}"
        deadline = time.monotonic() + 10
        while counted not in bot.http.get("/metrics").text:
            if time.monotonic() > deadline:
                raise BenchError(f"the bot does not count the {pending + 1} pending requests")
            time.sleep(0.2)
    return empty, full


def _activity(bot: BotProcess, fakes: Fakes, tag: str) -> None:
    run_burst(bot.url, fakes.slack, 10, tag=f"mem-{tag}-")
    for user in ("U0REQ", "U0BURST000"):
        if bot.send(sr.home_opened_body(user)).status_code != 200:
            raise BenchError("App Home event not acked")
    bot.http.get("/metrics")
    time.sleep(TICKS)


def _one_pending(bot: BotProcess, fakes: Fakes) -> str:
    text = "Tell the team about the memory template"
    bot.send(sr.command_body(text, "U0REQ"))
    [card] = wait_for_cards(fakes.slack, [text], timeout=30)
    return card.approval_id


def _rss(bot: BotProcess) -> float:
    assert bot.proc is not None
    for line in Path(f"/proc/{bot.proc.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024 / MIB
    raise BenchError("no VmRSS for the bot process")
