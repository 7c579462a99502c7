"""One module per Slack surface, each with ``register(app, deps)``."""

from __future__ import annotations

from slack_bolt import App

from bot.slack.listeners import actions, commands, home, views
from bot.wiring import Deps


def register(app: App, deps: Deps) -> None:
    for surface in (commands, actions, views, home):
        surface.register(app, deps)
    # Last, because Bolt runs the first listener that matches: catch-alls for the unknown.
    actions.register_fallbacks(app, deps)
    views.register_fallbacks(app, deps)
