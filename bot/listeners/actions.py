"""Card buttons: Approve and Ignore decide at once; Edit, Answer, Respond, Reject, Review each
and a graph's own buttons open the form they need; View full text reads."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from slack_bolt import Ack, App

from bot.blocks import card, modals
from bot.deps import Deps
from bot.listeners.parse import BadPayload, Click, parse_click
from bot.models import Approval, Decision

logger = logging.getLogger(__name__)
MISSING = "I can't find that approval request any more."
FORMS: dict[str, Callable[[Approval], dict[str, Any]]] = {
    card.EDIT: modals.edit_modal,
    card.ANSWER: modals.answer_modal,
    card.RESPOND: modals.respond_modal,
    card.REJECT: modals.reject_modal,
    card.EACH: modals.each_modal,
}


def register(app: App, deps: Deps) -> None:
    def clicked(ack: Ack, body: dict[str, Any]) -> Click | None:
        ack()
        try:
            return parse_click(body)
        except BadPayload as problem:
            user = body.get("user", {}).get("id") if isinstance(body.get("user"), dict) else None
            channel = (body.get("channel") or {}).get("id")
            if user and channel:
                deps.slack.tell(channel, user, str(problem))
            return None

    def openable(click: Click) -> Approval | None:
        """The request, if ``click.user`` may decide it now; otherwise say why not."""
        approval, refusal = deps.engine.precheck(click.approval_id, click.user)
        if refusal:
            where = (approval.channel if approval else click.channel) or click.user
            deps.slack.tell(where, click.user, refusal)
            return None
        return approval

    def decide(click: Click, decision: Decision) -> None:
        deps.worker.submit(deps.engine.decide, click.approval_id, decision, click.channel)

    @app.action(card.APPROVE)
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        click = clicked(ack, body)
        if click:
            decide(click, Decision("approve", click.user))

    @app.action(card.IGNORE)
    def ignore(ack: Ack, body: dict[str, Any]) -> None:
        click = clicked(ack, body)
        if click:
            decide(click, Decision("ignore", click.user))

    def form_opener(build: Callable[[Approval], dict[str, Any]]):
        def open_form(ack: Ack, body: dict[str, Any]) -> None:
            click = clicked(ack, body)
            approval = openable(click) if click else None
            if click and approval and click.trigger_id:
                deps.slack.open_view(click.trigger_id, build(approval))

        return open_form

    for action_id, build in FORMS.items():
        app.action(action_id)(form_opener(build))

    @app.action(re.compile("^" + re.escape(card.CHOICE_PREFIX)))
    def choice(ack: Ack, body: dict[str, Any]) -> None:
        """A button the graph's settings add, such as "Request changes"."""
        click = clicked(ack, body)
        approval = openable(click) if click else None
        if not click or not approval:
            return
        name = _action_id(body).removeprefix(card.CHOICE_PREFIX)
        extra = next(
            (c for c in (approval.review.extra if approval.review else ()) if c.name == name), None
        )
        if extra is None:
            deps.slack.tell(
                approval.channel, click.user, "That button isn't offered here any more."
            )
        elif extra.asks and click.trigger_id:
            view = modals.choice_modal(approval, extra.name, extra.label, extra.asks)
            deps.slack.open_view(click.trigger_id, view)
        elif not extra.asks:
            decide(click, Decision(extra.name, click.user))

    @app.action(card.VIEW_FULL)
    def view_full(ack: Ack, body: dict[str, Any]) -> None:
        click = clicked(ack, body)
        approval = deps.store.get_approval(click.approval_id) if click else None
        if click and approval is None:
            deps.slack.tell(click.channel or click.user, click.user, MISSING)
        elif click and approval and click.trigger_id:
            text = (approval.review.long_text if approval.review else None) or ""
            deps.slack.open_view(click.trigger_id, modals.full_text_modal(text))


def _action_id(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("action_id") or "") if isinstance(actions[0], dict) else ""
