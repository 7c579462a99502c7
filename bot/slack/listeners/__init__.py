"""Every Slack listener, registered in one place. Each is a plain function in the module of its
surface (commands, actions, views, home) that Bolt calls with its own arguments by name; the
registration binds the rest, ``deps`` (bot.slack.listeners.context), so a test calls a listener
with fakes and no Bolt at all."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial, update_wrapper
from typing import Any

from slack_bolt import App

from bot.slack.blocks import card, modals, notices, rules
from bot.slack.listeners import actions, commands, home, views
from bot.slack.listeners.context import ListenerDeps

_ANY = re.compile(".*")
Constraint = str | re.Pattern[str]


def register(app: App, deps: ListenerDeps) -> None:
    def bound(listener: Callable[..., None]) -> Callable[..., None]:
        # Bolt reads the arguments to pass from the signature (``deps`` is keyword-only, so it
        # asks for none of it) and names the listener in its logs after the function.
        return update_wrapper(partial(listener, deps=deps), listener)

    app.command("/agent")(bound(commands.agent))

    buttons: list[tuple[Constraint, Callable[..., None]]] = [
        (card.APPROVE, actions.approve),
        (card.IGNORE, actions.ignore),
        (card.REMEMBER, actions.remember),
        (rules.REVOKE, home.revoke),
        (card.EDIT, actions.open_edit_form),
        (card.ANSWER, actions.open_answer_form),
        (card.RESPOND, actions.open_respond_form),
        (card.REJECT, actions.open_reject_form),
        (card.EACH, actions.open_each_form),
        (re.compile("^" + re.escape(card.CHOICE_PREFIX)), actions.choice),
        (card.VIEW_FULL, actions.view_full_text),
    ]
    forms: list[tuple[Constraint, Callable[..., None]]] = [
        (modals.EDIT, views.edit_submitted),
        (modals.ANSWER, views.answer_submitted),
        (modals.RESPOND, views.respond_submitted),
        (modals.REJECT, views.reject_submitted),
        (modals.CHOICE, views.choice_submitted),
        (modals.EACH, views.each_submitted),
    ]
    for constraint, listener in buttons:
        app.action(constraint)(bound(listener))
    for constraint, listener in forms:
        app.view(constraint)(bound(listener))

    app.event("app_home_opened")(bound(home.home_opened))

    # A retry button, then the catch-alls: last, so that anything unknown gets an answer, and
    # only what no listener above owns. Bolt runs the first listener that matches, and when
    # that one has not acked within 3 s it goes on to the next that matches: a catch-all of
    # every id then answered a click still being recorded with "I don't know that button;
    # nothing changed", and the click was carried out after all.
    app.action(notices.RETRY)(bound(actions.retry))
    known_buttons = [constraint for constraint, _ in buttons] + [notices.RETRY]
    known_forms = [constraint for constraint, _ in forms]

    def unowned_button(body: dict[str, Any]) -> bool:
        return not _owned(known_buttons, _action_id(body))

    def unowned_form(body: dict[str, Any]) -> bool:
        return not _owned(known_forms, _callback_id(body))

    app.action(_ANY, matchers=[unowned_button])(bound(actions.unknown_button))
    app.view(_ANY, matchers=[unowned_form])(views.unknown_form)


def _owned(constraints: list[Constraint], name: str | None) -> bool:
    """Whether a listener registered with one of ``constraints`` takes ``name``, as Bolt
    matches them: a string the whole id, a pattern found in it."""
    if name is None:
        return False
    return any(name == c if isinstance(c, str) else c.search(name) is not None for c in constraints)


def _action_id(body: dict[str, Any]) -> str | None:
    found = body.get("actions")
    first = found[0] if isinstance(found, list) and found else None
    name = first.get("action_id") if isinstance(first, dict) else None
    return name if isinstance(name, str) else None


def _callback_id(body: dict[str, Any]) -> str | None:
    view = body.get("view")
    name = view.get("callback_id") if isinstance(view, dict) else None
    return name if isinstance(name, str) else None


__all__ = ["ListenerDeps", "register"]
