"""Bench-only: where an ack's time goes under a burst, bot and bare Bolt back to back.

Rounds alternate bot and bare Bolt (as ``python -m bench``'s ack part does) and print each
round's p99 per kind with the load average. ``--phases`` starts the bot with
``bench/phases/sitecustomize.py`` on its path, which marks each request's phases inside the bot
(nothing in the product changes); the marks share the client's clock (CLOCK_MONOTONIC).

    .venv/bin/python -m bench.ack_phases --rounds 4 --phases
    .venv/bin/python -m bench.ack_phases --rounds 4 --env SOME_SETTING=1
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.bare_bolt import bare_bolt
from bench.stack import bot_env, fakes, postgres
from bot.slack.blocks import card as ids
from tests.support import slack_requests as sr
from tests.support.botproc import ROOT, BotProcess
from tests.support.burst import Burst, percentile, requester, wait_for_cards, wait_for_outcomes

PHASES = (
    "enter",
    "body",
    "thread",
    "submit",
    "listener",
    "quick",
    "conn",
    "sent",
    "answered",
    "stored",
    "ack",
    "dispatched",
    "loop",
)


def schedstat(pid: int) -> tuple[float, float, float, float]:
    """CPU time and run-queue wait (ms) of all of ``pid``'s threads so far (living ones), then
    of its main thread (the event loop) alone."""
    on_cpu = waited = 0
    main = (0, 0)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            run, wait, _ = (Path(task) / "schedstat").read_text().split()
        except (OSError, ValueError):
            continue
        on_cpu += int(run)
        waited += int(wait)
        if task.name == str(pid):
            main = (int(run), int(wait))
    return on_cpu / 1e6, waited / 1e6, main[0] / 1e6, main[1] / 1e6


def postgres_cpu() -> float:
    """CPU (ms) of every PostgreSQL process so far (the server's, all databases: others' too)."""
    total = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if (proc / "comm").read_text().strip() != "postgres":
                continue
            total += int((proc / "schedstat").read_text().split()[0])
        except (OSError, ValueError):
            continue
    return total / 1e6


def pid_of(needle: str) -> int:
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
                parent = (proc / "stat").read_text().split()[3]
            except OSError:
                continue
            if needle in cmdline and parent == str(os.getpid()):
                return int(proc.name)
    raise LookupError(needle)


def thread_cpu(pid: int) -> dict[int, float]:
    """CPU (ms) of each of ``pid``'s threads so far."""
    cpu = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpu[int(task.name)] = int((task / "schedstat").read_text().split()[0]) / 1e6
        except (OSError, ValueError):
            continue
    return cpu


THREAD_CPU: list[tuple[str, int, dict[int, float]]] = []  # (burst, pid, CPU per thread in it)
PIDS: dict[str, int] = {}
CPU: list[str] = []
SPY: dict[str, Path] = {}  # url -> where py-spy's samples of its bursts go (--spy)


def fire(url: str, bodies: Sequence[bytes], tag: str) -> list[dict[str, Any]]:
    pid = PIDS.get(url)
    spy = None
    if pid and url in SPY:
        out = SPY[url].with_name(f"{SPY[url].stem}-{tag}.txt")
        spy = subprocess.Popen(
            [
                str(ROOT / ".venv/bin/py-spy"),
                "record",
                "--pid",
                str(pid),
                "--rate",
                "1000",
                "--format",
                "raw",
                "--threads",
                "--nonblocking",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.0)
    before = schedstat(pid) if pid else None
    threads_before = thread_cpu(pid) if pid else {}
    pg_before = postgres_cpu()
    acks = _fire(url, bodies, tag)
    pg = postgres_cpu() - pg_before
    if spy is not None:
        spy.send_signal(signal.SIGINT)
        spy.wait(20)
    if pid and before:
        after = schedstat(pid)
        threads_after = thread_cpu(pid)
        THREAD_CPU.append(
            (
                tag,
                pid,
                {
                    t: c - threads_before.get(t, 0.0)
                    for t, c in threads_after.items()
                    if c - threads_before.get(t, 0.0) > 0.05
                },
            )
        )
        d = [a - b for a, b in zip(after, before, strict=True)]
        CPU.append(
            f"{tag:6} cpu {d[0]:6.1f} ms  run-queue wait {d[1]:6.1f} ms (all threads); "
            f"event loop cpu {d[2]:6.1f} wait {d[3]:6.1f}; postgres cpu {pg:6.1f}"
        )
    return acks


def _fire(url: str, bodies: Sequence[bytes], tag: str) -> list[dict[str, Any]]:
    barrier = threading.Barrier(len(bodies))

    def one(i: int, body: bytes) -> dict[str, Any]:
        with httpx.Client(base_url=url, timeout=30) as client:
            headers = {**sr.sign(body), "x-bench-id": f"{tag}{i}"}
            barrier.wait()
            start = time.perf_counter()
            response = client.post("/slack/events", content=body, headers=headers)
            end = time.perf_counter()
            return {"id": f"{tag}{i}", "status": response.status_code, "start": start, "end": end}

    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(pool.map(one, range(len(bodies)), bodies))


def p99(acks: list[dict[str, Any]]) -> float:
    return percentile([a["end"] - a["start"] for a in acks], 99) * 1000


def bot_round(bot: BotProcess, slack: Any, n: int, tag: str) -> tuple[list, list]:
    texts = [f"Tell the team about item {tag}{i:03d}" for i in range(n)]
    commands = fire(
        bot.url, [sr.command_body(t, requester(i)) for i, t in enumerate(texts)], f"{tag}c"
    )
    cards = wait_for_cards(slack, texts, 60)
    clicks = fire(
        bot.url,
        [
            sr.click_body(ids.APPROVE, c.approval_id, requester(i), c.channel, c.ts)
            for i, c in enumerate(cards)
        ],
        f"{tag}a",
    )
    wait_for_outcomes(slack, Burst(texts, [], [], cards), 60)
    return commands, clicks


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--phases", action="store_true")
    parser.add_argument("--no-bare", action="store_true")
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the bot")
    parser.add_argument("--spy", type=Path, help="py-spy samples of the bot's bursts, here")
    parser.add_argument("--url-options", default="", help="appended to the database URL")
    args = parser.parse_args(argv)
    extra = dict(e.split("=", 1) for e in args.env)
    rows: list[str] = []
    client: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp, fakes() as f, postgres() as url:
        url += args.url_options
        phases_out = Path(tmp) / "phases.jsonl"
        env = bot_env(f, url, **extra)
        if args.phases or any(k.startswith("BENCH_") for k in extra):
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench" / "phases"), str(ROOT)])
        if args.phases:
            env["BENCH_PHASES"] = str(phases_out)
            env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench" / "phases"), str(ROOT)])
        bot = BotProcess(env, Path(tmp) / "bot.log", f.slack, prefork=False).start()
        try:
            bare_out = Path(tmp) / "bare-phases.jsonl"
            saved = dict(os.environ)
            if args.phases:
                os.environ["BENCH_PHASES"] = str(bare_out)
                os.environ["PYTHONPATH"] = env["PYTHONPATH"]
            try:
                bare_cm = bare_bolt()
                bare_url = bare_cm.__enter__()
            finally:
                os.environ.clear()
                os.environ.update(saved)
            PIDS[bot.url] = bot.proc.pid  # type: ignore[union-attr]
            PIDS[bare_url] = pid_of("bench.bare_bolt")
            if args.spy:
                SPY[bot.url] = args.spy
                SPY[bare_url] = args.spy.with_name("bare")
            try:
                for r in range(args.rounds):
                    order = ("bot", "bare") if r % 2 == 0 else ("bare", "bot")
                    for who in order:
                        if who == "bare" and args.no_bare:
                            continue
                        load = os.getloadavg()[0]
                        if who == "bot":
                            cmd, clk = bot_round(bot, f.slack, args.n, f"r{r}-")
                            client += cmd + clk
                        else:
                            cmd, clk = _bare(bare_url, args.n, r)
                            client += cmd + clk
                        bad = [a for a in cmd + clk if a["status"] != 200]
                        assert not bad, bad[:3]
                        rows.append(
                            f"round {r} {who:4}: /agent p99 {p99(cmd):6.1f}  "
                            f"Approve p99 {p99(clk):6.1f}  worse {max(p99(cmd), p99(clk)):6.1f}"
                            f"  (load {load:.1f})"
                        )
                        print(rows[-1], flush=True)
            finally:
                bare_cm.__exit__(None, None, None)
        finally:
            bot.stop()
        pooled = {}
        for who in ("bot", "bare"):
            acks = [a for a in client if a["id"].startswith("b") == (who == "bare")]
            kinds = [[a for a in acks if a["id"].split("-")[1].startswith(k)] for k in "ca"]
            pooled[who] = max(p99(k) for k in kinds if k)
        print(
            f"pooled p99 (worse kind): bot {pooled['bot']:.1f}  bare {pooled['bare']:.1f}  "
            f"ratio {pooled['bot'] / pooled['bare']:.2f}"
        )
        print("\n".join(CPU))
        if args.phases:
            report_phases([a for a in client if not a["id"].startswith("b")], phases_out)
            report_phases([a for a in client if a["id"].startswith("b")], bare_out)
    return 0


def _bare(url: str, n: int, r: int) -> tuple[list, list]:
    from bot.slack.blocks import card as ids

    texts = [f"Tell the team about item bare{r}-{i:03d}" for i in range(n)]
    commands = fire(url, [sr.command_body(t, requester(i)) for i, t in enumerate(texts)], f"b{r}-c")
    clicks = fire(
        url,
        [
            sr.click_body(ids.APPROVE, f"{r:04x}{i:012x}", requester(i), "C0REQ", f"{i}.0")
            for i in range(n)
        ],
        f"b{r}-a",
    )
    return commands, clicks


def report_phases(client: list[dict[str, Any]], path: Path) -> None:
    server: dict[str, Any] = {}
    work: list[float] = []
    starts: list[tuple[float, float]] = []
    names: dict[int, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            rec = json.loads(line)
            if rec["id"] == "work":
                work.append(rec["start"])
            elif rec["id"] == "thread":
                names[rec["tid"]] = rec["name"]
            elif rec["id"] == "thread-start":
                starts.append((rec["start"], rec["took"]))
            else:
                server[rec["id"]] = rec
    bursts: dict[str, list[dict[str, Any]]] = {}
    for a in client:
        bursts.setdefault(a["id"].rsplit("-", 1)[0] + a["id"].rsplit("-", 1)[1][0], []).append(a)
    print(
        "\nbursts: ms from the first send: last enter, last answer; background tasks started"
        " before the last enter"
    )
    for name, acks in bursts.items():
        t0 = min(a["start"] for a in acks)
        enters = sorted(server[a["id"]]["enter"] for a in acks if a["id"] in server)
        last_end = max(a["end"] for a in acks)
        if not enters:
            continue
        early = sum(1 for w in work if t0 <= w < enters[-1])
        during = sum(1 for w in work if t0 <= w < last_end)
        first = min((w for w in work if t0 <= w < last_end), default=None)
        if first is not None:
            waiting = sum(1 for a in acks if a["id"] in server and server[a["id"]]["enter"] > first)
            in_handler = sum(
                1
                for a in acks
                if a["id"] in server
                and server[a["id"]]["enter"] <= first < server[a["id"]].get("loop", 1e18)
            )
            print(
                f"  {name:8} first work at {(first - t0) * 1000:6.1f} ms: {waiting} requests "
                f"not yet entered, {in_handler} in the handler"
            )
        made = [took for at, took in starts if t0 <= at < last_end]
        print(
            f"  {name:8} threads started by the event loop: {len(made)}, "
            f"{sum(made) * 1000:.1f} ms waited for"
        )
        print(
            f"  {name:8} enter p50 {(enters[len(enters) // 2] - t0) * 1000:6.1f} last "
            f"{(enters[-1] - t0) * 1000:6.1f}  last answer {(last_end - t0) * 1000:6.1f}  "
            f"work started before last enter {early}, before last answer {during}"
        )
    for tag, pid, cpu in THREAD_CPU:
        if not any(a["id"].startswith(tag) for a in client):
            continue
        groups: dict[str, float] = {}
        for tid, ms in cpu.items():
            name = (
                "event loop" if tid == pid else re.sub(r"[_-]?\d+(_\d+)?$", "", names.get(tid, "?"))
            )
            name = re.sub(r"\s*\(.*\)$", "", name)
            groups[name] = groups.get(name, 0.0) + ms
        top = sorted(groups.items(), key=lambda kv: -kv[1])[:7]
        print(f"  {tag:6} cpu by thread: " + ", ".join(f"{k} {v:.1f}" for k, v in top))
    print(f"\nphases ({len(server)} of {len(client)} requests marked in the bot), ms after send:")
    for kind in ("c", "a"):
        acks = [a for a in client if a["id"].split("-")[1].startswith(kind)]
        acks.sort(key=lambda a: a["end"] - a["start"])
        name = "/agent" if kind == "c" else "Approve"
        for label, chosen in (
            ("median", acks[len(acks) // 2 : len(acks) // 2 + 1]),
            ("slowest 3%", acks[-max(1, len(acks) * 3 // 100) :]),
        ):
            print(f"  {name} {label} ({len(chosen)}):")
            cols = []
            for a in chosen:
                rec = server.get(a["id"], {})
                cols.append(
                    {p: (rec[p] - a["start"]) * 1000 for p in PHASES if p in rec}
                    | {
                        "end": (a["end"] - a["start"]) * 1000,
                        "pool": f"{rec.get('pool_available')}/{rec.get('pool_size')}",
                        "threads": rec.get("active"),
                    }
                )
            for c in cols:
                print(
                    "    "
                    + "  ".join(
                        f"{k} {v:.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in c.items()
                    )
                )
        for key in ("dispatch_cpu", "listener_cpu"):
            v = sorted(server[a["id"]][key] for a in acks if key in server.get(a["id"], {}))
            if v:
                print(f"  {name} {key}: median {v[len(v) // 2]:.2f} ms, mean {sum(v) / len(v):.2f}")
        # averages over all: gap per phase step
        gaps: dict[str, list[float]] = {}
        for a in acks:
            rec = server.get(a["id"])
            if not rec:
                continue
            marks = (
                [("send", a["start"])]
                + [(p, rec[p]) for p in PHASES if p in rec]
                + [("recv", a["end"])]
            )
            for (p0, t0), (p1, t1) in zip(marks, marks[1:], strict=False):
                gaps.setdefault(f"{p0}->{p1}", []).append((t1 - t0) * 1000)
        print(f"  {name}: step  median / p90 / max ms")
        for k, v in gaps.items():
            v.sort()
            print(f"    {k:22} {v[len(v) // 2]:6.1f} {v[int(len(v) * 0.9)]:6.1f} {v[-1]:6.1f}")


if __name__ == "__main__":
    raise SystemExit(main())
