"""Every Slack listener, registered in one place. Each is a plain function in the module of its
surface (commands, actions, views, home) that Bolt calls with its own arguments by name; the
registration binds the rest, ``deps`` (bot.slack.listeners.context), so a test calls a listener
with fakes and no Bolt at all."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial, update_wrapper

from slack_bolt import App

from bot.slack.blocks import card, modals, notices, rules
from bot.slack.listeners import actions, commands, home, views
from bot.slack.listeners.context import ListenerDeps

_ANY = re.compile(".*")


def register(app: App, deps: ListenerDeps) -> None:
    def bound(listener: Callable[..., None]) -> Callable[..., None]:
        # Bolt reads the arguments to pass from the signature (``deps`` is keyword-only, so it
        # asks for none of it) and names the listener in its logs after the function.
        return update_wrapper(partial(listener, deps=deps), listener)

    app.command("/agent")(bound(commands.agent))

    app.action(card.APPROVE)(bound(actions.approve))
    app.action(card.IGNORE)(bound(actions.ignore))
    app.action(card.REMEMBER)(bound(actions.remember))
    app.action(rules.REVOKE)(bound(home.revoke))
    app.action(card.EDIT)(bound(actions.open_edit_form))
    app.action(card.ANSWER)(bound(actions.open_answer_form))
    app.action(card.RESPOND)(bound(actions.open_respond_form))
    app.action(card.REJECT)(bound(actions.open_reject_form))
    app.action(card.EACH)(bound(actions.open_each_form))
    app.action(re.compile("^" + re.escape(card.CHOICE_PREFIX)))(bound(actions.choice))
    app.action(card.VIEW_FULL)(bound(actions.view_full_text))

    app.view(modals.EDIT)(bound(views.edit_submitted))
    app.view(modals.ANSWER)(bound(views.answer_submitted))
    app.view(modals.RESPOND)(bound(views.respond_submitted))
    app.view(modals.REJECT)(bound(views.reject_submitted))
    app.view(modals.CHOICE)(bound(views.choice_submitted))
    app.view(modals.EACH)(bound(views.each_submitted))

    app.event("app_home_opened")(bound(home.home_opened))

    # Last, because Bolt runs the first listener that matches: a retry button, then catch-alls
    # so that anything unknown gets an answer.
    app.action(notices.RETRY)(bound(actions.retry))
    app.action(_ANY)(bound(actions.unknown_button))
    app.view(_ANY)(views.unknown_form)


__all__ = ["ListenerDeps", "register"]
