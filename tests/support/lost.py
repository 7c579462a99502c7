"""What the tests of answers lost at a commit and of a frozen database share: a bot talking to
PostgreSQL through a :class:`~tests.support.pgproxy.CuttingProxy`, the card it asks, and the
recovery sweeps a running bot would make (the proxy itself: the ``proxy`` fixture, in
tests/inprocess/conftest.py)."""

from __future__ import annotations

from typing import Any

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
