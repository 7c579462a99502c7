"""``/agent``: start a run (recorded, acked at once, worked on in the background), or one of the
subcommands that look after runs (``help``, ``pending``, ``status``, ``cancel``, ``audit``) and
remembered approvals (``rules``)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack

from bot.domain.models import RunRequest
from bot.slack.blocks.runs import subcommands
from bot.slack.blocks.text import cut_escaped
from bot.slack.listeners.context import ListenerDeps
from bot.slack.listeners.parse import BadPayload, parse_command, usage
from bot.store.db import OutcomeUnknown

logger = logging.getLogger(__name__)
NOT_STARTED = (
    "Sorry, I couldn't start that just now (my database didn't answer), so nothing was started. "
    "Please try again in a moment."
)
UNCONFIRMED = (
    "Sorry, I can't tell whether that run started: my database stopped answering just as I "
    "recorded it. If it did, its proposal will be posted in <#{}> once I reach my database "
    "again; please wait a few minutes for it before asking again."
)
NOT_ANSWERED = "Sorry, I couldn't look that up just now (my database didn't answer). Try again."
LIMIT = 3900
NO_ARGUMENT = "`/agent {}` takes no argument. Try `/agent help`."
LOOKUPS = (
    "pending",
    "status",
    "cancel",
    "audit",
    "rules",
)  # answered on the response_url, after the ack


def agent(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    word, _, rest = str(body.get("text") or "").strip().partition(" ")
    word, rest = word.lower(), rest.strip()
    if word == "help" and not rest:
        ack(response_type="ephemeral", text=help_text(deps))
    elif word in LOOKUPS and isinstance(body.get("user_id"), str):
        ack()  # at once: the answer reads the database
        _look_up(str(body.get("response_url") or ""), word, rest, body["user_id"], deps)
    else:
        _start_run(ack, body, deps)


def _look_up(response_url: str, word: str, rest: str, user: str, deps: ListenerDeps) -> None:
    try:
        text = _answer(deps, word, rest, user)
    except Exception:
        logger.exception("/agent %s failed", word)
        text = NOT_ANSWERED
    try:
        deps.slack.respond(response_url, cut_escaped(text, LIMIT)[0])
    except Exception:
        logger.exception("could not answer /agent %s on its response_url", word)


def _start_run(ack: Ack, body: dict[str, Any], deps: ListenerDeps) -> None:
    try:
        command = parse_command(body, deps.descriptions, deps.default_graph)
    except BadPayload as problem:
        ack(response_type="ephemeral", text=str(problem))
        return
    channel = deps.approvals_channel or command.channel
    try:
        run = deps.engine.start(
            RunRequest(command.graph, command.text, command.user, command.channel, channel)
        )
    except OutcomeUnknown:
        logger.exception("a new run may or may not have been recorded")
        ack(response_type="ephemeral", text=UNCONFIRMED.format(channel))
        return
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


def help_text(deps: ListenerDeps) -> str:
    listed = deps.tally.signoffs.anyone_listed
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


def _answer(deps: ListenerDeps, word: str, rest: str, user: str) -> str:
    ops = deps.operations
    if word == "pending":
        return ops.pending(user) if not rest else NO_ARGUMENT.format(word)
    if word == "status":
        return ops.status(rest, user)
    if word == "cancel":
        return ops.cancel(rest, user)
    if word == "rules":
        return ops.rules(rest, user)
    return ops.audit_of(rest, user)
