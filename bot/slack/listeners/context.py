"""What every listener is given besides Bolt's own arguments: the few services it calls, picked
out of the bot's wiring once, so a test hands a listener fakes instead of a whole bot.

A listener is a plain function whose last, keyword-only parameter is ``deps``; Bolt fills in the
rest (``ack``, ``body``, ``respond``, ``event``) by name, and the registration binds ``deps``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from bot.core.access import Access
    from bot.core.engine import Engine
    from bot.core.rules import Rules
    from bot.core.tally import SignOffTally
    from bot.slack.subcommands import Operations
    from bot.store.repository import Store


class SlackNotes(Protocol):
    """The Slack calls a listener makes after its ack (bot.slack.client.Slack has them)."""

    def tell(self, channel: str, user: str, text: str) -> None: ...

    def tell_or_dm(self, channel: str, user: str, text: str) -> None: ...

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None: ...

    def publish_home(self, user: str, view: dict[str, Any]) -> None: ...

    def respond(self, response_url: str, text: str) -> None: ...


@dataclass(frozen=True)
class ListenerDeps:
    slack: SlackNotes
    engine: Engine
    tally: SignOffTally  # who may decide, and what stands
    access: Access  # who may see
    store: Store
    operations: Operations
    modal_key: bytes  # signs what a modal was opened for (bot.slack.listeners.binding)
    descriptions: dict[str, str]  # every registered graph, and what it does
    default_graph: str
    approvals_channel: str | None  # APPROVALS_CHANNEL; None: where /agent was typed
    rules: Rules | None = None  # remembered approvals (bot.core.rules), where the policy allows
