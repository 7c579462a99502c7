"""``python -m bot``: HTTP on ``PORT``, or Socket Mode when ``SLACK_APP_TOKEN`` is set."""

from __future__ import annotations

import logging
import os
import sys

from bot.config import ConfigError, load_settings

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
            from slack_bolt.adapter.socket_mode import SocketModeHandler

            logger.info("connecting in Socket Mode")
            SocketModeHandler(app, settings.slack_app_token).start()
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


if __name__ == "__main__":
    sys.exit(main())
