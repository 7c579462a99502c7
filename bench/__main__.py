"""``python -m bench``: the bot against bare Bolt and bare LangGraph on PostgreSQL, side by side.

    .venv/bin/python -m bench                              # full: the README's figures
    .venv/bin/python -m bench --quick --json results.json  # about a minute (CI)
    .venv/bin/python -m bench --tls                        # Slack over HTTPS, as slack.com

Every figure is measured in this session, bot and baseline in alternating rounds, against the
fake Slack and OpenAI servers and a new PostgreSQL database (TEST_POSTGRES_URL). The bench checks
its own work (every timed decision resumed its thread once; every due reminder reached Slack) and
exits 1 only when it could not do or verify that; a figure missing its target is not a failure.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from bench.acks import AckRounds, ack_rounds
from bench.bare_bolt import bare_bolt
from bench.bare_langgraph import BareLangGraph
from bench.cpu import cores
from bench.decisions import (
    Sustained,
    bare_throughput,
    bot_throughput,
    decide_latency,
    median,
)
from bench.memory import rss_mb
from bench.plan import FULL, QUICK, Plan
from bench.report import render
from bench.scheduler_tick import notify_seconds, tick_ms
from bench.slack_calls import call_ms
from bench.stack import BenchError, fakes, postgres, running_bot
from tests.support.burst import latency_summary


def measure(plan: Plan, workdir: Path, tls: bool = False) -> dict[str, float]:
    figures: dict[str, float] = {}
    # SQLite's bursts on fakes of their own: the PostgreSQL bursts below ask for the same texts.
    with fakes(tls) as f, bare_bolt() as bare_url, running_bot(f, _sqlite(workdir), workdir) as bot:
        _step("ack bursts on SQLite")
        on_bot, on_bare = ack_rounds(bot.url, bare_url, f.slack, plan.burst, plan.ack_rounds)
        figures["ack_p99_ms_sqlite"] = _worst_p99(on_bot.commands, on_bot.clicks)
        figures["ack_p99_ms_sqlite_bare"] = _worst_p99(on_bare.commands, on_bare.clicks)
        _acks_by_kind(on_bot, on_bare)
    with fakes(tls) as f:
        with postgres() as url, running_bot(f, url, workdir) as bot, bare_bolt() as bare_url:
            _step("ack bursts")
            on_bot, on_bare = ack_rounds(bot.url, bare_url, f.slack, plan.burst, plan.ack_rounds)
            figures["ack_p99_ms"] = _worst_p99(on_bot.commands, on_bot.clicks)
            figures["ack_p99_ms_bare"] = _worst_p99(on_bare.commands, on_bare.clicks)
            _acks_by_kind(on_bot, on_bare)
            trusted = f.certificate.client_context() if f.certificate else None
            bare = BareLangGraph(url, f.slack, trusted)
            try:
                _step("single decisions")
                bot_ms, bare_ms = decide_latency(bot.url, url, f.slack, bare, plan.decide, "d")
                figures["decide_ms"], figures["decide_ms_bare"] = median(bot_ms), median(bare_ms)
                _step("sustained decisions")
                rounds: tuple[list[Sustained], list[Sustained]] = ([], [])
                for r in range(plan.throughput_rounds):
                    n, k, tag = plan.cards, plan.clickers, f"t{r}"
                    for which in (0, 1) if r % 2 == 0 else (1, 0):
                        if which == 0:
                            pids = [bot.pid]
                            done = bot_throughput(bot.url, url, f.slack, n, k, tag, pids)
                        else:
                            done = bare_throughput(f.slack, bare, n, k, tag, url)
                        rounds[which].append(done)
                figures["decisions_per_s"] = median([s.per_s for s in rounds[0]])
                figures["decisions_per_s_bare"] = median([s.per_s for s in rounds[1]])
                figures.update(_cpu(rounds[0], ""))
                figures.update(_cpu(rounds[1], "_bare"))
                for who, k in (("bot", ""), ("bare LangGraph", "_bare")):
                    split = (figures[f"cpu_ms_{part}{k}"] for part in ("bot", "postgres", "bench"))
                    print("  CPU a decision, {}: bot {:.1f}, PostgreSQL {:.1f}, here {:.1f} ms"
                          .format(who, *split))  # fmt: skip
            finally:
                bare.close()
            with running_bot(f, url, workdir) as second:
                _step("sustained decisions, one process and two on one database")
                scale: tuple[list[float], list[float]] = ([], [])
                for r in range(plan.throughput_rounds):
                    n, k = plan.cards, plan.clickers
                    for which in (0, 1) if r % 2 == 0 else (1, 0):
                        urls = [bot.url] if which == 0 else [bot.url, second.url]
                        tag = f"s{r}x{which + 1}"
                        pids = [bot.pid, second.pid]  # the idle one's background work too
                        done = bot_throughput(urls, url, f.slack, n, k, tag, pids)
                        scale[which].append(done.per_s)
                figures["decisions_per_s_1proc"] = median(scale[0])
                figures["decisions_per_s_2proc"] = median(scale[1])
        _step("scheduler ticks")
        ticks = tick_ms(f, (1_000, plan.backlog), plan.tick_rounds)
        figures["tick_ms_1k"] = median(ticks[1_000])
        figures["tick_ms_backlog"] = median(ticks[plan.backlog])
        _step("1,000 reminders due")
        figures["notify_s_1000_due"] = notify_seconds(f, 1_000)
        _step("Slack calls over TLS")
        figures.update(call_ms(plan.slack_calls, 2))
        _step("memory")
        figures["rss_mb_0"], figures["rss_mb_backlog"] = rss_mb(f, workdir, plan.backlog)
        figures["backlog"] = plan.backlog
    return _with_ratios(figures)


def _sqlite(workdir: Path) -> str:
    return f"sqlite:///{workdir / 'bench.db'}"


def _cpu(rounds: list[Sustained], suffix: str) -> dict[str, float]:
    """The CPU a decision cost, by process (medians of the rounds), and what all of it allows
    on this machine's cores at most, however many bot processes share the work."""
    figures = {
        f"cpu_ms_bot{suffix}": median([s.cpu.bot_ms for s in rounds]),
        f"cpu_ms_postgres{suffix}": median([s.cpu.postgres_ms for s in rounds]),
        f"cpu_ms_bench{suffix}": median([s.cpu.bench_ms for s in rounds]),
        f"cpu_ms{suffix}": median([s.cpu.total_ms for s in rounds]),
    }
    figures[f"cpu_bound_per_s{suffix}"] = cores() * 1000 / figures[f"cpu_ms{suffix}"]
    return figures


def _acks_by_kind(on_bot: AckRounds, on_bare: AckRounds) -> None:
    for who, rounds in (("bot", on_bot), ("bare Bolt", on_bare)):
        for name, acks in (("/agent", rounds.commands), ("Approve", rounds.clicks)):
            print(f"  {who} {name}: p99 {latency_summary(acks)['p99']:.1f} ms")


def _with_ratios(f: dict[str, float]) -> dict[str, float]:
    f["ack_ratio"] = f["ack_p99_ms"] / f["ack_p99_ms_bare"]
    f["ack_ratio_sqlite"] = f["ack_p99_ms_sqlite"] / f["ack_p99_ms_sqlite_bare"]
    f["scale_out_ratio"] = f["decisions_per_s_2proc"] / f["decisions_per_s_1proc"]
    f["decide_ratio"] = f["decide_ms"] / f["decide_ms_bare"]
    f["throughput_ratio"] = f["decisions_per_s"] / f["decisions_per_s_bare"]
    f["cpu_ratio"] = f["cpu_ms"] / f["cpu_ms_bare"]
    # The most any number of bot processes could decide here, against one process's rate.
    f["scale_out_ceiling"] = f["cpu_bound_per_s"] / f["decisions_per_s_1proc"]
    f["tick_growth"] = f["tick_ms_backlog"] / f["tick_ms_1k"]
    f["slack_call_ratio"] = f["slack_call_ms"] / f["slack_call_ms_sdk"]
    f["slack_call_cpu_ratio"] = f["slack_call_cpu_ms"] / f["slack_call_cpu_ms_sdk"]
    f["bytes_per_pending"] = (f["rss_mb_backlog"] - f["rss_mb_0"]) * 1024 * 1024 / f["backlog"]
    return {key: round(value, 3) for key, value in sorted(f.items())}


def _worst_p99(*bursts: list) -> float:
    """The worse of the bursts' p99s (``/agent`` and Approve each have the same target)."""
    return max(latency_summary(acks)["p99"] for acks in bursts)


def _step(what: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {what}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller rounds and backlog (CI)")
    parser.add_argument("--json", type=Path, help="also write the figures here as JSON")
    parser.add_argument(
        "--tls", action="store_true", help="Slack's API over HTTPS, as slack.com's is"
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        try:
            figures = measure(plan, Path(tmp), args.tls)
        except (BenchError, AssertionError) as problem:
            print(f"bench failed: {problem}", file=sys.stderr)
            return 1
    print(render(figures, plan, time.monotonic() - started))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
