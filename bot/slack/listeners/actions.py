"""Card buttons: Approve and Ignore decide at once; Edit, Answer, Respond, Reject, Review each
and a graph's own buttons open the form they need; View full text reads."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App
from slack_sdk.errors import SlackApiError

from bot.core.models import Approval, Decision
from bot.slack.blocks import card, modals, notices, outcomes
from bot.slack.listeners.binding import modal_key, seal
from bot.slack.listeners.parse import BadPayload, Click, parse_click
from bot.wiring import Deps

logger = logging.getLogger(__name__)
MISSING = "I can't find that approval request any more."
FORMS: dict[str, Callable[[Approval], dict[str, Any]]] = {
    card.EDIT: modals.edit_modal,
    card.ANSWER: modals.answer_modal,
    card.RESPOND: modals.respond_modal,
    card.REJECT: modals.reject_modal,
    card.EACH: modals.each_modal,
}


NOT_RECORDED = (
    "Sorry, I couldn't record that click just now (my database didn't answer), so nothing "
    "changed. Please try again in a moment."
)


NOT_OPENED = "Sorry, I couldn't open that form just now. Please click the button again."


def register(app: App, deps: Deps) -> None:
    key = modal_key(deps.settings.slack_bot_token, deps.settings.slack_signing_secret)

    def clicked(ack: Ack, body: dict[str, Any]) -> Click | None:
        """Ack, then the click; a click that can't be read is answered (after the ack, so
        a slow Slack can't hold up the ack)."""
        ack()
        try:
            return parse_click(body)
        except BadPayload as problem:
            user, channel = _who_where(body)
            if user:
                deps.slack.tell(channel or user, user, str(problem))
            return None

    def record(ack: Ack, body: dict[str, Any], click: Click, kind: str) -> None:
        """A click that decides at once: recorded before Slack hears it arrived."""
        decision = Decision(
            kind,
            click.user,
            origin=click.origin,
            shows_request=click.shows_request,
            version=click.version,
        )
        try:
            deps.engine.receive(click.approval_id, decision, click.channel)
        except Exception:
            logger.exception("could not record a %s click", kind)
            ack()
            deps.slack.tell(click.channel or click.user, click.user, NOT_RECORDED)
            return
        ack()

    def decided(ack: Ack, body: dict[str, Any], kind: str) -> None:
        try:
            click = parse_click(body)
        except BadPayload:
            clicked(ack, body)  # acks, then says what was wrong
            return
        record(ack, body, click, kind)

    def openable(click: Click) -> Approval | None:
        """The request, if ``click.user`` may decide it now; otherwise say why not."""
        try:
            approval, refusal = deps.engine.precheck(
                click.approval_id, click.user, click.origin, click.shows_request, click.version
            )
        except Exception:
            logger.exception("could not check a click before opening a form")
            deps.slack.tell(click.channel or click.user, click.user, NOT_OPENED)
            return None
        if refusal:
            where = (approval.channel if approval else click.channel) or click.user
            deps.slack.tell(where, click.user, outcomes.sentence(refusal) or NOT_OPENED)
            return None
        return approval

    def show(click: Click, view: dict[str, Any]) -> None:
        """Open a modal, bound to the request, version and person it is for; a trigger that
        expired (it lives 3 s) gets a note, not silence."""
        if view.get("private_metadata"):
            _, _, name = str(view["private_metadata"]).partition(":")
            metadata = seal(key, click.approval_id, click.version, click.user, name)
            view = {**view, "private_metadata": metadata}
        try:
            deps.slack.open_view(click.trigger_id or "", view)
        except SlackApiError as problem:
            logger.warning("views.open failed: %s", problem.response.get("error"))
            deps.slack.tell(click.channel or click.user, click.user, NOT_OPENED)

    @app.action(card.APPROVE)
    def approve(ack: Ack, body: dict[str, Any]) -> None:
        decided(ack, body, "approve")

    @app.action(card.IGNORE)
    def ignore(ack: Ack, body: dict[str, Any]) -> None:
        decided(ack, body, "ignore")

    def form_opener(build: Callable[[Approval], dict[str, Any]]):
        def open_form(ack: Ack, body: dict[str, Any]) -> None:
            click = clicked(ack, body)
            approval = openable(click) if click else None
            if click and approval and click.trigger_id:
                show(click, build(as_shown(approval)))

        return open_form

    def as_shown(approval: Approval) -> Approval:
        """The request as its card shows it: with an edit that stands, its form starts from
        the edited values (the version being signed), not from what the agent proposed."""
        edit = deps.engine.signing.standing_edit(approval)
        if edit is None or approval.review is None:
            return approval
        review = approval.review.with_values(card.edited_values(approval, edit) or [])
        return replace(approval, review=review)

    for action_id, build in FORMS.items():
        app.action(action_id)(form_opener(build))

    @app.action(re.compile("^" + re.escape(card.CHOICE_PREFIX)))
    def choice(ack: Ack, body: dict[str, Any]) -> None:
        """A button the graph's settings add, such as "Request changes": one that asks for
        notes opens a form; one that asks for nothing decides, recorded before the ack."""
        name = _action_id(body).removeprefix(card.CHOICE_PREFIX)
        try:
            click = parse_click(body)
        except BadPayload:
            clicked(ack, body)  # acks, then says what was wrong
            return
        try:
            approval = deps.store.get_approval(click.approval_id, quick=True)
        except Exception:
            logger.exception("could not read the request of a %s click", name)
            ack()
            deps.slack.tell(click.channel or click.user, click.user, NOT_RECORDED)
            return
        extra = next(
            (
                c
                for c in (approval.review.extra if approval and approval.review else ())
                if c.name == name
            ),
            None,
        )
        if extra is not None and not extra.asks:
            record(ack, body, click, extra.name)
            return
        ack()
        approval = openable(click)
        if approval is None:
            return
        if extra is None:
            deps.slack.tell(
                approval.channel, click.user, "That button isn't offered here any more."
            )
        elif click.trigger_id:
            show(click, modals.choice_modal(approval, extra.name, extra.label, extra.asks))

    @app.action(card.VIEW_FULL)
    def view_full(ack: Ack, body: dict[str, Any]) -> None:
        click = clicked(ack, body)
        approval = deps.store.get_approval(click.approval_id) if click else None
        if click and approval and not deps.operations.access.may_see_request(approval, click.user):
            approval = None  # a request they may not see is one that does not exist
        if click and approval is None:
            deps.slack.tell(click.channel or click.user, click.user, MISSING)
        elif click and approval and click.trigger_id:
            text = (approval.review.long_text if approval.review else None) or ""
            show(click, modals.full_text_modal(text))


def register_fallbacks(app: App, deps: Deps) -> None:
    """Registered last: a retry button, and any button we don't know gets an answer."""

    @app.action(notices.RETRY)
    def retry(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, channel = _who_where(body)
        value = _value(body)
        if not user:
            return
        if not re.fullmatch(r"[0-9a-f]{32}", value):
            deps.slack.tell(channel or user, user, "That retry button isn't one of mine.")
            return
        deps.slack.tell(channel or user, user, deps.operations.retry(value, user))

    @app.action(re.compile(".*"))
    def unknown(ack: Ack, body: dict[str, Any]) -> None:
        ack()
        user, channel = _who_where(body)
        if user:
            deps.slack.tell(channel or user, user, UNKNOWN_BUTTON)


def _who_where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The clicking user and the channel, when they are what Slack sends (ids as strings)."""
    user, channel = body.get("user"), body.get("channel")
    user_id = user.get("id") if isinstance(user, dict) else None
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    return (
        user_id if isinstance(user_id, str) and user_id else None,
        channel_id if isinstance(channel_id, str) and channel_id else None,
    )


UNKNOWN_BUTTON = (
    "I don't know that button (it may be from an older version of me); nothing changed."
)


def _value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    value = actions[0].get("value") if isinstance(actions[0], dict) else None
    return value if isinstance(value, str) else ""


def _action_id(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("action_id") or "") if isinstance(actions[0], dict) else ""
