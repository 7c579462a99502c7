"""How much each bench mode does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    burst: int  # simultaneous /agent commands, then simultaneous Approves
    ack_rounds: int
    decide: int  # single decisions timed each way
    cards: int  # cards approved in one sustained round
    clickers: int  # people clicking at once in it
    throughput_rounds: int
    tick_rounds: int
    backlog: int  # pending requests for the tick's and memory's big reading
    slack_calls: int  # Slack calls over TLS timed for each client in a round


FULL = Plan("full", burst=50, ack_rounds=6, decide=40, cards=200, clickers=8,
            throughput_rounds=2, tick_rounds=5, backlog=100_000, slack_calls=200)  # fmt: skip
# Quick (CI) checks that every part still runs and verifies its work, on smaller numbers.
QUICK = Plan("quick", burst=25, ack_rounds=1, decide=6, cards=24, clickers=8,
             throughput_rounds=1, tick_rounds=2, backlog=5_000, slack_calls=40)  # fmt: skip
