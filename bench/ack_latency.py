"""Ack latency under a burst: n simultaneous ``/agent`` commands, then n simultaneous Approves.

Starts the fake Slack and OpenAI servers and the real bot (``python -m bot``) on a fresh
database, fires the bursts as Slack would (signed, one connection each, released together) and
prints p50/p95/p99/max ack latency for each burst. Slack needs every ack within 3 s; the target is
p99 under 100 ms. For scale it also times a burst the bot refuses before any work (unsigned: 401),
which is what the HTTP server, the connections and this client cost on their own.

    .venv/bin/python -m bench.ack_latency                 # SQLite
    .venv/bin/python -m bench.ack_latency --db postgres   # a new database on TEST_POSTGRES_URL
    .venv/bin/python -m bench.ack_latency --db postgres --rounds 5 --n 40
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.stack import BenchError, bot_env, fakes, postgres
from tests.support.botproc import BotProcess
from tests.support.burst import Ack, describe, fire_at_once, run_burst


@contextmanager
def database(kind: str, workdir: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    try:
        with postgres() as url:
            yield url
    except BenchError as problem:
        raise SystemExit(str(problem)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--n", type=int, default=40, help="requests per burst (default 40)")
    parser.add_argument("--rounds", type=int, default=1, help="bursts of each kind (default 1)")
    parser.add_argument("--log", type=Path, help="keep the bot's log here")
    args = parser.parse_args(argv)

    commands: list[Ack] = []
    clicks: list[Ack] = []
    floor: list[Ack] = []
    with (
        tempfile.TemporaryDirectory() as tmp,
        fakes() as f,
        database(args.db, Path(tmp)) as url,
    ):
        slack = f.slack
        bot = BotProcess(bot_env(f, url), args.log or Path(tmp) / "bot.log", prefork=False).start()
        try:
            for _ in range(args.rounds):
                floor += fire_at_once(bot.url, [b"unsigned"] * args.n, sign=False)
            for round_ in range(args.rounds):
                burst = run_burst(bot.url, slack, args.n, tag=f"r{round_}-")
                commands += burst.commands
                clicks += burst.clicks
                if args.rounds > 1:
                    print(f"round {round_ + 1}:")
                    print("  " + describe("/agent ", burst.commands))
                    print("  " + describe("Approve", burst.clicks))
        except AssertionError as problem:
            print(f"the burst did not complete: {problem}\n{bot.log()}", file=sys.stderr)
            return 1
        finally:
            bot.stop()

    print(f"{args.db}, {args.rounds} round(s) of {args.n} simultaneous requests each:")
    print("  " + describe("/agent ", commands))
    print("  " + describe("Approve", clicks))
    print("  " + describe("floor  ", floor) + " <- unsigned, refused before Bolt")
    failed = [a for a in commands + clicks if a.status != 200 or a.seconds >= 3]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
