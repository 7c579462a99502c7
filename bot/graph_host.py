"""The shipped graphs' toolbox when a LangGraph Server runs them rather than the bot.

The same model, actions and at-most-once ledger as in the bot, from the same environment
variables (``OPENAI_*``, ``SLACK_BOT_TOKEN``/``SLACK_API_URL`` for posting, ``SMTP_URL``,
``EMAIL_FROM``, ``WEBHOOK_ALLOWLIST``, ``WEBHOOK_IDEMPOTENT``, and ``DATABASE_URL`` for the
ledger, so a step the server retries never posts twice). Built once per server process; the
database is opened at the first effect, inside a node, never on the server's event loop.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from langchain_core.language_models import BaseChatModel

from bot.agents.toolkit import make_actions, make_llm
from bot.config import load_settings
from bot.core.effect_trail import EffectTrail
from bot.core.ledger import Ledger
from bot.slack.client import Slack
from bot.slack.errors import not_done, uncertain
from bot.slack.web_client import make_client
from bot.store.db import open_database
from graphs.actions import ActionRegistry


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
                trail = EffectTrail()  # its metrics are the bot's own
                self._ledger = Ledger(
                    db,
                    time.time,
                    observe=trail,
                    base=self.retry_after,
                    retryable=not_done,
                    unknown=uncertain,
                    audited=trail.entry,
                )
        return self._ledger.once(key, effect)


def environment_tools() -> tuple[BaseChatModel, ActionRegistry, _LedgerOnFirstUse]:
    """The model, the actions and the at-most-once ledger, from the environment; the shipped
    graphs' toolbox (graphs/toolbox.py) builds itself from them, once per server process."""
    settings = load_settings(for_graphs=True)
    slack = Slack(
        make_client(settings.slack_bot_token, settings.slack_api_url, settings.slack_timeout)
    )
    effects = _LedgerOnFirstUse(settings.database_url, settings.retry_after)
    return make_llm(settings), make_actions(settings, slack.post_text, capped=False), effects
