"""``/agent <request>``: record the run, ack at once, work in the background."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.deps import Deps
from bot.listeners.parse import BadPayload, parse_command
from bot.models import RunRequest

logger = logging.getLogger(__name__)
NOT_STARTED = (
    "Sorry, I couldn't start that just now (my database didn't answer), so nothing was started. "
    "Please try again in a moment."
)


def register(app: App, deps: Deps) -> None:
    @app.command("/agent")
    def agent(ack: Ack, body: dict[str, Any]) -> None:
        try:
            command = parse_command(body, deps.descriptions, deps.default_graph)
        except BadPayload as problem:
            ack(response_type="ephemeral", text=str(problem))
            return
        channel = deps.settings.approvals_channel or command.channel
        try:
            run = deps.engine.start(
                RunRequest(command.graph, command.text, command.user, command.channel, channel)
            )
        except Exception:
            logger.exception("could not record a new run")
            ack(response_type="ephemeral", text=NOT_STARTED)
            return
        ack(
            response_type="ephemeral",
            text=f"Started run `{run.thread_id[:8]}` with the *{command.graph}* graph. "
            f"Its proposal will be posted for approval in <#{channel}>.",
        )
