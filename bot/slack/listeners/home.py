"""App Home: what is waiting for a decision, and your runs, whenever someone opens the tab."""

from __future__ import annotations

from typing import Any

from bot.slack.blocks.home import MAX_LISTED, home_view
from bot.slack.listeners.context import ListenerDeps


def home_opened(event: dict[str, Any], *, deps: ListenerDeps) -> None:
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    user = event["user"]
    runs = [(r, deps.store.latest_card(r.thread_id)) for r in deps.store.runs_of(user)]
    # Only what this person may see (bot.core.access), and only its count: not the workspace's.
    pending = deps.access.pending(user)
    view = home_view(pending[:MAX_LISTED], len(pending), runs)
    deps.slack.publish_home(user, view)
