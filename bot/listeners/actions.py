"""Card buttons: Approve decides at once; Edit and Reject open a modal; View full text reads."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack, App

from bot.blocks import card, modals
from bot.deps import Deps
from bot.listeners.parse import BadPayload, Click, parse_click
from bot.models import Approval, Decision

logger = logging.getLogger(__name__)
MISSING = "I can't find that approval request any more."


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

    @app.action(card.APPROVE)
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        click = clicked(ack, body)
        if click:
            decision = Decision("approve", click.user)
            deps.worker.submit(deps.engine.decide, click.approval_id, decision, click.channel)

    @app.action(card.EDIT)
    def edit(ack: Ack, body: dict[str, Any]) -> None:
        click = clicked(ack, body)
        approval = openable(click) if click else None
        if click and approval and click.trigger_id:
            deps.slack.open_view(click.trigger_id, modals.edit_modal(approval, deps.actions))

    @app.action(card.REJECT)
    def reject(ack: Ack, body: dict[str, Any]) -> None:
        click = clicked(ack, body)
        approval = openable(click) if click else None
        if click and approval and click.trigger_id:
            deps.slack.open_view(click.trigger_id, modals.reject_modal(approval))

    @app.action(card.VIEW_FULL)
    def view_full(ack: Ack, body: dict[str, Any]) -> None:
        click = clicked(ack, body)
        approval = deps.store.get_approval(click.approval_id) if click else None
        if click and approval is None:
            deps.slack.tell(click.channel or click.user, click.user, MISSING)
        elif click and approval and click.trigger_id:
            text = str(approval.payload.get("draft", ""))
            deps.slack.open_view(click.trigger_id, modals.full_text_modal(text))
