"""The shipped graphs' toolbox when a LangGraph Server runs them rather than the bot.

The same model, actions and at-most-once ledger as in the bot, from the same environment
variables (``OPENAI_*``, ``SLACK_BOT_TOKEN``/``SLACK_API_URL`` for posting, ``SMTP_URL``,
``EMAIL_FROM``, ``WEBHOOK_ALLOWLIST``, ``WEBHOOK_IDEMPOTENT``, and ``DATABASE_URL`` for the
ledger, so a step the server retries never posts twice). Built once per server process; the
database is opened at the first effect, inside a node, never on the server's event loop.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable

from bot.audit import Audit
from bot.config import load_settings
from bot.db import open_database
from bot.deps import make_actions, make_llm
from bot.effect_trail import EffectTrail
from bot.effects import Ledger
from bot.slack import Slack, make_client
from graphs.toolbox import Toolbox


class _LedgerOnFirstUse:
    def __init__(self, database_url: str, retry_after: float) -> None:
        self.database_url = database_url
        self.retry_after = retry_after
        self._ledger: Ledger | None = None
        self._lock = threading.Lock()

    def once(self, key: str, effect: Callable[[], str]) -> str:
        with self._lock:
            if self._ledger is None:
                db = open_database(self.database_url)
                trail = EffectTrail(Audit(db, time.time))  # its metrics are the bot's own
                self._ledger = Ledger(db, time.time, observe=trail, base=self.retry_after)
        return self._ledger.once(key, effect)


@functools.cache
def environment_toolbox() -> Toolbox:
    settings = load_settings(for_graphs=True)
    slack = Slack(make_client(settings.slack_bot_token, settings.slack_api_url))
    effects = _LedgerOnFirstUse(settings.database_url, settings.retry_after)
    return Toolbox(make_llm(settings), make_actions(settings, slack, capped=False), effects)
