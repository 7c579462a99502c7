"""``python -m bot``: HTTP on ``PORT``, or Socket Mode when ``SLACK_APP_TOKEN`` is set."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import TYPE_CHECKING

from bot.config import ConfigError, load_settings

if TYPE_CHECKING:
    from slack_bolt import App

logger = logging.getLogger("bot")


def main() -> int:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        settings = load_settings()
    except ConfigError as problem:
        print(f"Configuration error: {problem}", file=sys.stderr)
        return 2

    from slack_bolt.error import BoltError

    from bot.app import build_app
    from bot.deps import build_deps
    from bot.scheduler import start_ticking

    try:
        deps = build_deps(settings)
    except ConfigError as problem:
        print(f"Configuration error: {problem}", file=sys.stderr)
        return 2
    try:
        app = build_app(deps)
    except BoltError as problem:
        print(
            f"Slack rejected the app's credentials (check SLACK_BOT_TOKEN): {problem}",
            file=sys.stderr,
        )
        return 2
    deps.worker.submit(deps.engine.recover, 0.0)  # finish what the last process left
    scheduler = start_ticking(deps.scheduler.tick, settings.scheduler_tick)
    try:
        if settings.socket_mode:
            return run_socket_mode(app, settings.slack_app_token or "")
        else:
            import uvicorn

            from bot.server import create_asgi

            asgi = create_asgi(app, settings.slack_signing_secret or "")
            logger.info("listening on port %s at POST /slack/events", settings.port)
            uvicorn.run(asgi, host="0.0.0.0", port=settings.port, log_level="warning")
    finally:
        scheduler.shutdown(wait=False)
        deps.close()
    return 0


def run_socket_mode(app: App, app_token: str) -> int:
    from slack_bolt.adapter.socket_mode import SocketModeHandler
    from slack_sdk.errors import SlackApiError

    # Bolt's handler.start() blocks with SIGTERM left fatal, so a deploy would skip the clean-up
    # that uvicorn's graceful shutdown gives HTTP mode; stop on SIGTERM (and Ctrl-C) instead.
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    logger.info("connecting in Socket Mode")
    handler = SocketModeHandler(app, app_token)
    try:
        handler.connect()  # apps.connections.open: the first use of SLACK_APP_TOKEN
    except SlackApiError as problem:
        error = problem.response.get("error")
        print(f"Slack rejected SLACK_APP_TOKEN (apps.connections.open: {error})", file=sys.stderr)
        return 2
    try:
        while not stopping.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        # slack_sdk's close() can wait forever when it lands just as its receiver thread starts
        # (the thread then clears the "terminated" flag close() set); its threads are daemons.
        closing = threading.Thread(target=handler.close, daemon=True)
        closing.start()
        closing.join(timeout=5)
    logger.info("Socket Mode connection closed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
