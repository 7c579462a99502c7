"""App Home: what is waiting for a decision, and your runs, whenever someone opens the tab."""

from __future__ import annotations

from typing import Any

from slack_bolt import App

from bot.slack.blocks.home import MAX_LISTED, home_view
from bot.wiring import Deps


def register(app: App, deps: Deps) -> None:
    @app.event("app_home_opened")
    def opened(event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home" or not event.get("user"):
            return
        user = event["user"]
        runs = [(r, deps.store.latest_card(r.thread_id)) for r in deps.store.runs_of(user)]
        # Only what this person may see (bot.core.access), and only its count: not the workspace's.
        pending = deps.operations.access.pending(user)
        view = home_view(pending[:MAX_LISTED], len(pending), runs)
        deps.slack.publish_home(user, view)
