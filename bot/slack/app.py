"""``build_app(deps, ...)``: the Bolt app with its listeners registered, and nothing else. The
wiring (``bot.wiring.slack_app``) picks what the listeners need out of the whole bot."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import App
from slack_sdk import WebClient

from bot.runtime.worker import ListenerPool
from bot.slack.listeners import ListenerDeps, register

logger = logging.getLogger(__name__)
# Bolt's default is 10 threads; a burst of 40 commands would queue its acks behind them.
LISTENER_THREADS = 32


class _TokenGivenTwice(logging.Filter):
    """Bolt reads ``SLACK_BOT_TOKEN`` from the environment itself, then warns at every start
    that the token is unused because a client is given too. The client carries that same
    token (with the bot's retry handlers and base URL), so the warning says nothing useful."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


_BOLT_APP_LOG = logging.getLogger("slack_bolt.App")
if not any(isinstance(f, _TokenGivenTwice) for f in _BOLT_APP_LOG.filters):
    _BOLT_APP_LOG.addFilter(_TokenGivenTwice())


def build_app(deps: ListenerDeps, *, client: WebClient) -> App:
    app = App(
        client=client,
        # Signatures are checked once, by the HTTP transport, over the raw bytes and before
        # Bolt parses anything (bot.http.asgi.is_signed); Socket Mode requests carry none.
        request_verification_enabled=False,
        # Listeners ack first and hand slow work to deps.worker, so Bolt's own threads are free.
        process_before_response=False,
        # The pool hands Bolt the ack as soon as it is given (bot.http.asgi.dispatch).
        listener_executor=ListenerPool(max_workers=LISTENER_THREADS, thread_name_prefix="bolt"),
    )

    @app.error
    def on_error(error: Exception, body: dict[str, Any]) -> None:
        logger.error("listener failed for %s", body.get("type"), exc_info=error)

    register(app, deps)
    return app
