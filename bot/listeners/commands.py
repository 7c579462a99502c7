"""``/agent <request>``: record the run, ack at once, work in the background."""

from __future__ import annotations

from typing import Any

from slack_bolt import Ack, App

from bot.deps import Deps
from bot.listeners.parse import BadPayload, parse_command
from bot.models import RunRequest


def register(app: App, deps: Deps) -> None:
    @app.command("/agent")
    def agent(ack: Ack, body: dict[str, Any]) -> None:
        try:
            command = parse_command(body, deps.descriptions, deps.default_graph)
        except BadPayload as problem:
            ack(response_type="ephemeral", text=str(problem))
            return
        channel = deps.settings.approvals_channel or command.channel
        run = deps.engine.start(
            RunRequest(command.graph, command.text, command.user, command.channel, channel)
        )
        ack(
            response_type="ephemeral",
            text=f"Started run `{run.thread_id[:8]}` with the *{command.graph}* graph. "
            f"Its proposal will be posted for approval in <#{channel}>.",
        )
