"""CPU time spent per decision, by process: the bot, its PostgreSQL backends, and this process
(the clickers and the fake Slack and OpenAI servers). With the machine's cores it says how far
any number of bot processes could go here: two processes cannot decide faster than the cores
can run the CPU a decision costs, whoever spends it. Linux (``/proc``), with PostgreSQL on
this machine, as the bench runs it."""

from __future__ import annotations

import os
import resource
from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Spent:
    """CPU seconds spent so far: the bot processes', their backends', this process's."""

    bots: float
    backends: dict[int, float]
    here: float


@dataclass(frozen=True)
class PerDecision:
    bot_ms: float
    postgres_ms: float
    bench_ms: float

    @property
    def total_ms(self) -> float:
        return self.bot_ms + self.postgres_ms + self.bench_ms


def cores() -> int:
    return len(os.sched_getaffinity(0))


def spent(bot_pids: Sequence[int], database_url: str) -> Spent:
    with psycopg.connect(database_url, autocommit=True) as conn:
        backends = [
            pid
            for (pid,) in conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        ]
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Spent(
        bots=sum(_seconds(pid) for pid in bot_pids),
        backends={pid: _seconds(pid) for pid in backends},
        here=usage.ru_utime + usage.ru_stime,
    )


def per_decision(before: Spent, after: Spent, decisions: int) -> PerDecision:
    # A backend that came meanwhile spent all its time within; one that went is not counted.
    backends = sum(t - before.backends.get(pid, 0.0) for pid, t in after.backends.items())
    return PerDecision(
        bot_ms=1000 * (after.bots - before.bots) / decisions,
        postgres_ms=1000 * backends / decisions,
        bench_ms=1000 * (after.here - before.here) / decisions,
    )


def _seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat; 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS
