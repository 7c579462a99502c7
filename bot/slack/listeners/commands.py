"""``/agent``: start a run (recorded, acked at once, worked on in the background), or one of the
subcommands that look after runs (``help``, ``pending``, ``status``, ``cancel``, ``audit``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App, Respond

from bot.core.models import RunRequest
from bot.slack.blocks.runs import subcommands
from bot.slack.blocks.text import cut_escaped
from bot.slack.listeners.parse import BadPayload, parse_command, usage
from bot.wiring import Deps

logger = logging.getLogger(__name__)
NOT_STARTED = (
    "Sorry, I couldn't start that just now (my database didn't answer), so nothing was started. "
    "Please try again in a moment."
)
NOT_ANSWERED = "Sorry, I couldn't look that up just now (my database didn't answer). Try again."
LIMIT = 3900


def register(app: App, deps: Deps) -> None:
    ops = deps.operations
    answers: dict[str, Callable[[str, str], str]] = {
        "pending": lambda text, user: ops.pending(user) if not text else _no_argument("pending"),
        "status": lambda text, user: ops.status(text, user),
        "cancel": lambda text, user: ops.cancel(text, user),
        "audit": lambda text, user: ops.audit_of(text, user),
    }

    @app.command("/agent")
    def agent(ack: Ack, body: dict[str, Any], respond: Respond) -> None:
        word, _, rest = str(body.get("text") or "").strip().partition(" ")
        if word.lower() == "help" and not rest.strip():
            ack(response_type="ephemeral", text=help_text(deps))
            return
        if word.lower() in answers and isinstance(body.get("user_id"), str):
            ack()  # at once: the answer (it reads the database) follows on the response_url
            try:
                text = answers[word.lower()](rest.strip(), body["user_id"])
            except Exception:
                logger.exception("/agent %s failed", word)
                text = NOT_ANSWERED
            try:
                respond(text=cut_escaped(text, LIMIT)[0], response_type="ephemeral")
            except Exception:
                logger.exception("could not answer /agent %s on its response_url", word)
            return
        start(ack, body)

    def start(ack: Ack, body: dict[str, Any]) -> None:
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
            f"Its proposal will be posted for approval in <#{channel}>. "
            f"`/agent status {run.thread_id[:8]}` tells where it stands.",
        )


def help_text(deps: Deps) -> str:
    listed = deps.engine.signing.signoffs.anyone_listed
    who = (
        " ".join(f"<!subteam^{a}>" if a.startswith("S") else f"<@{a}>" for a in listed)
        if listed
        else "only the person who started a run (no APPROVERS are set)"
    )
    return "\n".join(
        [
            usage(deps.descriptions, deps.default_graph),
            "Looking after runs:",
            subcommands(),
            f"Who may approve: {who}. Run ids may be shortened to their start, as I print them.",
        ]
    )


def _no_argument(name: str) -> str:
    return f"`/agent {name}` takes no argument. Try `/agent help`."
