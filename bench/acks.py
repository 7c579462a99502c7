"""Ack latency under bursts, bot against bare Bolt: ``n`` people type ``/agent`` at the same
moment, then (cards up) all click Approve at the same moment; the baseline gets the same two
bursts of signed requests. Rounds alternate which goes first."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.stack import BenchError
from bot.slack.blocks import card as ids
from tests.fakes.slack import FakeSlack
from tests.support import slack_requests as sr
from tests.support.burst import Ack, fire_at_once, requester, run_burst


@dataclass
class AckRounds:
    commands: list[Ack] = field(default_factory=list)
    clicks: list[Ack] = field(default_factory=list)

    def add(self, commands: list[Ack], clicks: list[Ack], who: str) -> None:
        bad = [a for a in commands + clicks if a.status != 200]
        if bad:
            raise BenchError(f"{who}: {len(bad)} request(s) not acked with 200, e.g. {bad[0]}")
        self.commands += commands
        self.clicks += clicks


def ack_rounds(
    bot_url: str, bare_url: str, slack: FakeSlack, n: int, rounds: int
) -> tuple[AckRounds, AckRounds]:
    bot, bare = AckRounds(), AckRounds()
    for round_ in range(rounds):
        order = ("bot", "bare") if round_ % 2 == 0 else ("bare", "bot")
        for who in order:
            if who == "bot":
                # run_burst also waits until every approved draft and report is posted.
                burst = run_burst(bot_url, slack, n, tag=f"ack{round_}-")
                bot.add(burst.commands, burst.clicks, "bot")
            else:
                bare.add(*_bare_burst(bare_url, n, round_), "bare Bolt")
    return bot, bare


def _bare_burst(url: str, n: int, round_: int) -> tuple[list[Ack], list[Ack]]:
    texts = [f"Tell the team about item bare{round_}-{i:03d}" for i in range(n)]
    commands = fire_at_once(url, [sr.command_body(t, requester(i)) for i, t in enumerate(texts)])
    clicks = fire_at_once(
        url,
        [
            sr.click_body(ids.APPROVE, f"{round_:04x}{i:012x}", requester(i), "C0REQ", f"{i}.0")
            for i in range(n)
        ],
    )
    return commands, clicks
