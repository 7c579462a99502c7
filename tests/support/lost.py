"""What the tests of answers lost at a commit and of a frozen database share: a bot talking to
PostgreSQL through a :class:`~tests.support.pgproxy.CuttingProxy`, the card it asks, and the
recovery sweeps a running bot would make (the proxy itself: the ``proxy`` fixture, in
tests/inprocess/conftest.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bot.slack.blocks import card as ids
from tests.support.cards import wait_card
from tests.support.pgproxy import CuttingProxy

REQ = "U0REQ"


def told(fake_slack: Any, text: str) -> bool:
    """Whether someone was told exactly ``text`` in an ephemeral message."""
    return any(c.params.get("text") == text for c in fake_slack.calls("chat.postEphemeral"))


def sweeps(bot: Any) -> None:
    """Two recovery sweeps of the running bot, after the click's lease (30 s) and a run's
    staleness (60 s) ran out."""
    for _ in range(2):
        bot.tick(advance=61)
        bot.settle()


def card_behind(
    proxy: CuttingProxy, bot_in_process: Any, fake_slack: Any, database_url: str, **env: str
) -> tuple[Any, Any]:
    """A bot talking to PostgreSQL through ``proxy`` (``env``: more settings), and the card of a
    draft it asks about."""
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url), **env)
    bot.command("Draft the release note", user=REQ)
    card = wait_card(fake_slack)
    bot.settle()
    return bot, card


@contextmanager
def stalled_past_its_lease(first: Any, second: Any, approval_id: str, user: str) -> Iterator[None]:
    """``user``'s Approve, taken by ``first`` and stalled there (before it decides) past its
    30 s lease, so that ``second``'s sweep carries it out; the first wakes, and goes on, as the
    block ends."""
    inbox = first.deps.engine.inbox
    decide, stalled, wake = inbox.decide, threading.Event(), threading.Event()

    def stall(*args: Any, **kwargs: Any) -> Any:
        stalled.set()
        wake.wait(30)
        return decide(*args, **kwargs)

    inbox.decide = stall
    assert first.click(ids.APPROVE, approval_id, user).status_code == 200
    assert stalled.wait(10), "the click was never taken"
    second.tick(advance=31)  # the first process's 30 s lease ran out: the sweep takes it
    second.settle()
    try:
        yield
    finally:
        wake.set()
        first.settle()
