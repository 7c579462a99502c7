"""``python -m bot``: HTTP on ``PORT``, or Socket Mode when ``SLACK_APP_TOKEN`` is set.

The other commands (``try``, ``audit``, ``help``) are routed by :mod:`bot.cli.main`.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import socket
import sys
import threading
from typing import TYPE_CHECKING

from bot.config import ConfigError, load_settings

if TYPE_CHECKING:
    from apscheduler.schedulers.background import BackgroundScheduler
    from slack_bolt import App

    from bot.runtime.metrics import Metrics
    from bot.runtime.worker import AckFirst
    from bot.wiring import Deps

logger = logging.getLogger("bot")
EFFECT_GRACE = 15.0  # seconds for side effects already under way after SHUTDOWN_GRACE: a Slack call


def main(argv: list[str] | None = None) -> int:
    """``python -m bot [serve | try | audit | prune | help]`` (bot.cli.main); no word serves."""
    from bot.cli.main import main as command_line

    return command_line(argv, serve)


def serve() -> int:
    from bot.runtime import logs

    logs.configure("INFO", "text")  # until the settings say how
    try:
        from bot.agents.langgraph_json import apply_config_env

        apply_config_env(os.environ)  # langgraph.json's `env` file may hold settings
        settings = load_settings()
    except ConfigError as problem:
        print(f"Configuration error: {problem}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)

    from slack_bolt.error import BoltError
    from slack_sdk.errors import SlackClientError

    from bot.runtime.refresher import Refresher
    from bot.runtime.ticking import start_ticking
    from bot.wiring import build_deps, slack_app

    try:
        deps = build_deps(settings)
    except ConfigError as problem:
        print(f"Configuration error: {problem}", file=sys.stderr)
        return 2
    try:
        app = slack_app(deps)
    except BoltError as problem:
        print(
            f"Slack rejected the app's credentials (check SLACK_BOT_TOKEN): {problem}",
            file=sys.stderr,
        )
        deps.db.close()
        return 2
    # Not a bug of ours (that keeps its traceback): no answer, or one that is not Slack's.
    except (OSError, SlackClientError, json.JSONDecodeError) as problem:
        first = (str(problem).strip() or type(problem).__name__).splitlines()[0][:300]
        print(
            f"Could not reach Slack at {settings.slack_api_url} ({first}); check SLACK_API_URL "
            "and this machine's network access",
            file=sys.stderr,
        )
        deps.db.close()
        return 2
    settle_heap()
    deps.worker.submit(deps.engine.recover, 0.0)  # finish what the last process left
    scheduler = start_ticking(deps.scheduler.tick, settings.scheduler_tick)
    # /healthz and /metrics answer from what this thread reads, never with a query per request.
    every = deps.health.refresh_every
    refreshers = [
        Refresher([deps.health.refresh], every, "health").start(),
        Refresher([deps.metrics.refresh], every, "metrics").start(),
    ]
    code = 0
    try:
        if settings.socket_mode:
            if serve_operations(deps, settings.port):
                token = settings.slack_app_token or ""
                code = run_socket_mode(app, token, deps.acks, deps.metrics)
            else:
                code = 2
        else:
            code = run_http(app, settings.slack_signing_secret or "", settings.port, deps)
    finally:
        for refresher in refreshers:
            refresher.stop()
        shut_down(deps, scheduler, settings.shutdown_grace)
    # Worker threads still running past the grace period would hold the interpreter open;
    # their work is recorded and the next process's recovery sweep finishes it.
    logging.shutdown()
    os._exit(code)


def settle_heap() -> None:
    """Leave what start-up built out of the garbage collector's work from now on.

    LangGraph, LangChain and Bolt leave some 180,000 long-lived objects behind them, and every
    full collection walked them all: about 100 ms with every thread stopped, which landed on
    whichever acks were in flight (it was the ack tail under a burst). Frozen, they are never
    walked again; what requests create is collected as before.
    """
    gc.collect()
    gc.freeze()


def run_http(app: App, signing_secret: str, port: int, deps: Deps) -> int:
    import uvicorn

    from bot.http.asgi import create_asgi

    # uvicorn answers SIGTERM by draining open requests, then restores the handlers it found and
    # raises the signal again. Finding these, the raise lands here and the shutdown goes on
    # (worker drain, exit 0) instead of the default handler killing the process mid-way.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)
    asgi = create_asgi(app, signing_secret, deps.health, deps.metrics, deps.routes, deps.acks)
    logger.info("listening on port %s at POST /slack/events", port)
    try:
        uvicorn.run(
            asgi, host="0.0.0.0", port=port, log_level="warning", timeout_graceful_shutdown=10
        )
    except SystemExit as stop:  # uvicorn exits this way when it cannot bind the port
        _port_taken(port)
        return int(stop.code or 2)
    return 0


def _port_taken(port: int) -> None:
    """Said on stderr when PORT cannot be listened on (3000, the default, often is taken)."""
    print(
        f"Could not listen on PORT {port}: is another process using it? Stop it, or set PORT "
        "to another port.",
        file=sys.stderr,
    )


def serve_operations(deps: Deps, port: int) -> bool:
    """Socket Mode takes no HTTP requests from Slack, but a platform still probes /healthz (and
    scrapes /metrics) on PORT: serve those two from a background thread. False (said on stderr,
    as HTTP mode says it) when PORT cannot be listened on: the probes would reach another
    process."""
    import uvicorn

    from bot.http.asgi import create_operations_asgi

    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listening.bind(("0.0.0.0", port))
    except OSError:
        listening.close()
        _port_taken(port)
        return False
    config = uvicorn.Config(
        create_operations_asgi(deps.health, deps.metrics, deps.routes),
        host="0.0.0.0",
        port=port,
        log_level="warning",
    )
    server = uvicorn.Server(config)
    # uvicorn captures signals only in the main thread: this one leaves them to the bot's.
    serving = threading.Thread(
        target=server.run, kwargs={"sockets": [listening]}, name="operations-http", daemon=True
    )
    serving.start()
    logger.info("serving /healthz and /metrics on port %s", port)
    return True


def shut_down(deps: Deps, scheduler: BackgroundScheduler, grace: float) -> None:
    """Stop taking work, let work in progress finish for ``grace`` seconds, then close."""
    logger.info("shutting down: finishing work in progress (up to %.0fs)", grace)
    scheduler.shutdown(wait=False)
    left = deps.worker.drain(grace)
    if left:
        # Start no new side effect, and let the ones under way finish (a Slack call cut off
        # mid-way would be an "outcome unknown"); the rest is recorded for the next start.
        deps.engine.release()
        left = deps.worker.drain(EFFECT_GRACE)
        logger.warning("%d task(s) left unfinished; they are recorded for the next start", left)
    if deps.settings.langsmith_project is not None:
        from bot.agents.traces import flush_traces

        flush_traces()
    deps.db.close()
    logger.info("stopped")


def run_socket_mode(
    app: App, app_token: str, acks: AckFirst | None = None, metrics: Metrics | None = None
) -> int:
    from slack_sdk.errors import SlackApiError

    from bot.http.socket_mode import AckFirstHandler

    # Bolt's handler.start() blocks with SIGTERM left fatal, so a deploy would skip the clean-up
    # that uvicorn's graceful shutdown gives HTTP mode; stop on SIGTERM (and Ctrl-C) instead.
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    signal.signal(signal.SIGINT, lambda *_: stopping.set())
    logger.info("connecting in Socket Mode")
    handler = AckFirstHandler(app, app_token, acks, metrics)
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
