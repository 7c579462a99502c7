"""Slack payloads in, typed records out. Anything malformed raises :class:`BadPayload`,
whose message is polite enough to show the user."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.spelling import suggestion
from bot.slack.blocks.text import escape

_GRAPH_PREFIX = re.compile(r"^\[([a-z0-9_-]+)\]\s*(.*)$", re.DOTALL | re.IGNORECASE)
MAX_REQUEST_CHARS = 4000
_ID = re.compile(r"[0-9a-f]{16}")  # approval ids (bot.store.repository.new_id); run ids are 32 hex
# A button's value: the request, and the version of it the card shows (cards posted before
# versions existed carry the id alone: the first version).
_BUTTON = re.compile(r"([0-9a-f]{16})(?::([1-9][0-9]{0,8}))?")
# An option of the card's "Approve, and don't ask again for …" menu: request, version, seconds.
_REMEMBER = re.compile(r"([0-9a-f]{16}):([1-9][0-9]{0,8}):([1-9][0-9]{0,8})")


class BadPayload(ValueError):
    """The request could not be understood; the message says what to do instead."""


@dataclass(frozen=True)
class AgentCommand:
    graph: str
    text: str
    user: str
    channel: str


@dataclass(frozen=True)
class Click:
    approval_id: str
    user: str
    channel: str | None
    trigger_id: str | None
    origin: str = "unknown"  # "message:<channel>:<ts>", "view", or "unknown"
    # The clicked message itself carries this request's buttons (Slack sends the message, signed)
    shows_request: bool = False
    version: int = 1  # of the request, as the clicked card showed it
    remember: int | None = None  # seconds picked in "Approve, and don't ask again for …"


@dataclass(frozen=True)
class Submission:
    approval_id: str
    user: str
    values: dict[str, str | None]


def _str(mapping: Any, *path: str) -> str:
    value: Any = mapping
    for key in path:
        value = value.get(key) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value:
        raise BadPayload("Sorry, I couldn't read that request from Slack. Please try again.")
    return value


def usage(graphs: Iterable[str] | Mapping[str, str], default: str) -> str:
    """How to use ``/agent``, with every registered graph and what it does."""
    lines = [
        "Usage: `/agent <what you want>`, for example "
        "`/agent Draft an announcement that the VPN is down tonight`.",
        "Pick a graph by naming it first: `/agent action email ops@example.com the status` "
        "(or `/agent [action] …`). Graphs:",
    ]
    described = graphs if isinstance(graphs, Mapping) else dict.fromkeys(graphs, "")
    for name, description in described.items():
        marker = " (default)" if name == default else ""
        what = f": {escape(description)}" if description else ""
        lines.append(f"• `{name}`{marker}{what}")
    return "\n".join(lines)


def parse_command(
    body: Mapping[str, Any], graphs: Iterable[str] | Mapping[str, str], default: str
) -> AgentCommand:
    known = list(graphs)
    text = str(body.get("text") or "").strip()
    if not text or text.lower() == "help":
        raise BadPayload(usage(graphs, default))
    graph = default
    match = _GRAPH_PREFIX.match(text)
    first, _, rest = text.partition(" ")
    if match:
        graph, text = match.group(1).lower(), match.group(2).strip()
        if graph not in known:
            raise BadPayload(f"There is no graph called `{graph}`. " + usage(graphs, default))
        if not text:
            raise BadPayload(usage(graphs, default))
    elif first in known and rest.strip():
        # The first word, exactly as registered, names the graph ("Draft a note" does not).
        graph, text = first, rest.strip()
    elif first in known:
        # "/agent refund" alone names a graph, as "[refund]" alone does: it is not a request
        # for the default graph about the word "refund".
        raise BadPayload(
            f"What should `{first}` do? Write it after the name: `/agent {first} <what you "
            "want>`. Nothing was started.\n" + usage(graphs, default)
        )
    elif rest.strip() and (close := _misspelt(first, known, default)):
        # "/agent refnd refund order 42" must not run the default graph with that text.
        raise BadPayload(
            f"Did you mean `{close}`? Nothing was started. Run it with "
            f"`/agent {close} {escape(cut(rest.strip(), 60))}`, or write "
            f"`/agent [{default}] {escape(cut(text, 60))}` to run the default graph with "
            "these words."
        )
    if len(text) > MAX_REQUEST_CHARS:
        raise BadPayload(f"That request is too long; keep it under {MAX_REQUEST_CHARS} characters.")
    return AgentCommand(graph, text, _str(body, "user_id"), _str(body, "channel_id"))


def _misspelt(word: str, known: list[str], default: str) -> str | None:
    """The graph a first word that is not one seems to name (not the default graph, which the
    text goes to anyway: "Drafts for…" is a request, not a typo). A capitalised word starts a
    sentence ("Post the minutes"), unless graph names are capitalised too."""
    if word.lower() == default.lower():
        return None
    if word[:1].isupper() and not any(name[:1].isupper() for name in known):
        return None
    return suggestion(word, [name for name in known if name != default])


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def parse_click(body: Mapping[str, Any]) -> Click:
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], Mapping):
        raise BadPayload("Sorry, I couldn't read that click. Please try again.")
    channel = body.get("channel")
    selected = actions[0].get("selected_option")
    remember: int | None = None
    if isinstance(selected, Mapping):  # a menu: its option's value, never a button's
        match = _REMEMBER.fullmatch(_str(selected, "value"))
        remember = int(match.group(3)) if match else None
    else:
        match = _BUTTON.fullmatch(_str(actions[0], "value"))
    if match is None:
        raise BadPayload("That button doesn't belong to any request I know of; nothing changed.")
    value = match.group(1)
    return Click(
        approval_id=value,
        user=_str(body, "user", "id"),
        channel=channel.get("id") if isinstance(channel, Mapping) else None,
        trigger_id=body.get("trigger_id") if isinstance(body.get("trigger_id"), str) else None,
        origin=_origin(body.get("container")),
        shows_request=_shows(body.get("message"), value),
        version=int(match.group(2) or 1),
        remember=remember,
    )


def _shows(message: Any, approval_id: str) -> bool:
    blocks = message.get("blocks") if isinstance(message, Mapping) else None
    return isinstance(blocks, list) and any(
        isinstance(b, Mapping) and b.get("block_id") == f"decide:{approval_id}" for b in blocks
    )


def _origin(container: Any) -> str:
    if not isinstance(container, Mapping):
        return "unknown"
    if container.get("type") == "view":
        return "view"
    channel, ts = container.get("channel_id"), container.get("message_ts")
    if container.get("type") == "message" and isinstance(channel, str) and isinstance(ts, str):
        return f"message:{channel}:{ts}"
    return "unknown"


def _input_value(action: Mapping[str, Any]) -> str | None:
    """A text or number input's value, or a select's chosen option."""
    selected = action.get("selected_option")
    if isinstance(selected, Mapping):
        value = selected.get("value")
        return value if isinstance(value, str) else None
    value = action.get("value")
    return value if isinstance(value, str) else None


def parse_submission(body: Mapping[str, Any]) -> Submission:
    view = body.get("view")
    state = view.get("state") if isinstance(view, Mapping) else None
    state = state.get("values") if isinstance(state, Mapping) else None
    if not isinstance(state, Mapping):
        raise BadPayload("Sorry, I couldn't read that form. Please try again.")
    values: dict[str, str | None] = {}
    for block_id, actions in state.items():
        if isinstance(actions, Mapping):
            for action in actions.values():
                if isinstance(action, Mapping):
                    values[block_id] = _input_value(action)
    return Submission(_str(view, "private_metadata"), _str(body, "user", "id"), values)
