"""Card buttons: Approve and Ignore decide at once; Edit, Answer, Respond, Reject, Review each
and a graph's own buttons open the form they need; View full text reads; Retry and any button
not known are answered last (bot.slack.listeners registers them after the rest)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from slack_bolt import Ack
from slack_sdk.errors import SlackApiError

from bot.domain.models import Approval, Decision
from bot.domain.review import Choice
from bot.slack.blocks import card, modals, outcomes, proposals
from bot.slack.listeners.binding import seal
from bot.slack.listeners.context import ListenerDeps
from bot.slack.listeners.parse import BadPayload, Click, parse_click
from bot.store.db import OutcomeUnknown

logger = logging.getLogger(__name__)
NOT_RECORDED = (
    "Sorry, I couldn't record that click just now (my database didn't answer), so nothing "
    "changed. Please try again in a moment."
)
UNCONFIRMED = (
    "Sorry, I can't tell whether I recorded that click: my database stopped answering just as "
    "I wrote it. If it was recorded, it will be carried out once I reach my database again, "
    "and the card will show it; if the card still shows its buttons in a few minutes, please "
    "click again."
)
RETRY_UNCONFIRMED = (
    "Sorry, I can't tell whether I recorded that Retry: my database stopped answering just as "
    "I wrote it. If it was recorded, the run is retried once I reach my database again, and "
    "its thread will show it; if nothing happens in a few minutes, please press Retry again."
)
NOT_OPENED = "Sorry, I couldn't open that form just now. Please click the button again."
GONE = "That button isn't offered here any more."
NOT_A_RETRY = "That retry button isn't one of mine."
UNKNOWN_BUTTON = (
    "I don't know that button (it may be from an older version of me); nothing changed."
)
NOT_A_DURATION = "That isn't one of the durations this request offers; nothing changed."
_RUN_ID = re.compile(r"[0-9a-f]{32}")


# Buttons that decide at once --------------------------------------------------------------


def approve(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    _decide_at_once(ack, body, "approve", deps)


def ignore(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    _decide_at_once(ack, body, "ignore", deps)


def remember(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    """ "Approve, and don't ask again for …": an Approve that also makes a rule, checked and
    claimed as an Approve is (bot.core.deciding.Decider.decide)."""
    try:
        click = parse_click(body)
    except BadPayload:
        _clicked(ack, body, deps)  # acks, then says what was wrong
        return
    if click.remember is None:
        ack()
        _tell(deps, click, NOT_A_DURATION)
        return
    _record(ack, click, "approve", deps)


# Buttons that open a form -------------------------------------------------------------------


def open_edit_form(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    _open_form(ack, body, modals.edit_modal, deps)


def open_answer_form(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    _open_form(ack, body, modals.answer_modal, deps)


def open_respond_form(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    _open_form(ack, body, modals.respond_modal, deps)


def open_reject_form(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    _open_form(ack, body, modals.reject_modal, deps)


def open_each_form(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    _open_form(ack, body, modals.each_modal, deps, with_edit=True)


def choice(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    """A button the graph's settings add, such as "Request changes": one that asks for notes
    opens a form; one that asks for nothing decides, recorded before the ack."""
    name = _action_id(body).removeprefix(card.CHOICE_PREFIX)
    try:
        click = parse_click(body)
    except BadPayload:
        _clicked(ack, body, deps)  # acks, then says what was wrong
        return
    try:
        approval = deps.store.get_approval(click.approval_id, quick=True)
    except Exception:
        logger.exception("could not read the request of a %s click", name)
        ack()
        _tell(deps, click, NOT_RECORDED)
        return
    extra = _offered(approval, name)
    if extra is not None and not extra.asks:
        _record(ack, click, extra.name, deps)
        return
    ack()
    approval = _openable(click, deps)
    if approval is None:
        return
    if extra is None:
        deps.slack.tell_or_dm(click.channel or approval.channel, click.user, GONE)
    elif click.trigger_id:
        _show(click, modals.choice_modal(approval, extra.name, extra.label, extra.asks), deps)


# Reading ------------------------------------------------------------------------------------


def view_full_text(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    click = _clicked(ack, body, deps)
    if click is None:
        return
    approval = deps.store.get_approval(click.approval_id)
    if approval and not deps.access.may_see_request(approval, click.user):
        approval = None  # a request they may not see is one that does not exist
    if approval is None:
        _tell(deps, click, outcomes.NOT_FOUND)
    elif click.trigger_id:
        # The version its card shows: with an edit others are asked to sign, that edit; once
        # decided, as decided.
        edits = _edited(approval, deps) if approval.status == "pending" else None
        _show(click, modals.full_text_modal(proposals.full_text(approval, edits)), deps)


# Registered last ----------------------------------------------------------------------------


def retry(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    """Retry, on a failed run's notice: recorded before Slack hears it arrived, as a click that
    decides is, then worked and answered (bot.core.run_control.RunControl.retried)."""
    user, channel = _who_where(body)
    value = _value(body)
    if not user or not _RUN_ID.fullmatch(value):
        ack()
        if user:
            deps.slack.tell_or_dm(channel or user, user, NOT_A_RETRY)
        return
    try:
        deps.engine.receive_retry(value, user, channel)
    except OutcomeUnknown:
        logger.exception("a Retry click may or may not have been recorded")
        ack()
        deps.slack.tell_or_dm(channel or user, user, RETRY_UNCONFIRMED)
        return
    except Exception:
        logger.exception("could not record a Retry click")
        ack()
        deps.slack.tell_or_dm(channel or user, user, NOT_RECORDED)
        return
    ack()


def unknown_button(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    ack()
    user, channel = _who_where(body)
    if user:
        deps.slack.tell_or_dm(channel or user, user, UNKNOWN_BUTTON)


# The steps they share -------------------------------------------------------------------------


def _clicked(ack: Ack, body: dict[str, Any], deps: ListenerDeps) -> Click | None:
    """Ack, then the click; a click that can't be read is answered (after the ack, so a slow
    Slack can't hold up the ack)."""
    ack()
    try:
        return parse_click(body)
    except BadPayload as problem:
        user, channel = _who_where(body)
        if user:
            deps.slack.tell_or_dm(channel or user, user, str(problem))
        return None


def _decide_at_once(ack: Ack, body: dict[str, Any], kind: str, deps: ListenerDeps) -> None:
    try:
        click = parse_click(body)
    except BadPayload:
        _clicked(ack, body, deps)  # acks, then says what was wrong
        return
    _record(ack, click, kind, deps)


def _record(ack: Ack, click: Click, kind: str, deps: ListenerDeps) -> None:
    """A click that decides at once: recorded before Slack hears it arrived."""
    decision = Decision(
        kind,
        click.user,
        origin=click.origin,
        shows_request=click.shows_request,
        version=click.version,
        remember=click.remember,
    )
    try:
        deps.engine.receive(click.approval_id, decision, click.channel)
    except OutcomeUnknown:
        logger.exception("a %s click may or may not have been recorded", kind)
        ack()
        _tell(deps, click, UNCONFIRMED)
        return
    except Exception:
        logger.exception("could not record a %s click", kind)
        ack()
        _tell(deps, click, NOT_RECORDED)
        return
    ack()


def _open_form(
    ack: Ack,
    body: dict[str, Any],
    build: Callable[..., dict[str, Any]],
    deps: ListenerDeps,
    with_edit: bool = False,
) -> None:
    """``with_edit``: ``build`` takes the standing edit's values too (read once, here)."""
    click = _clicked(ack, body, deps)
    approval = _openable(click, deps) if click else None
    if click and approval and click.trigger_id:
        edited = _edited(approval, deps)
        shown = _as_shown(approval, edited)
        _show(click, build(shown, edited) if with_edit else build(shown), deps)


def _openable(click: Click, deps: ListenerDeps) -> Approval | None:
    """The request, if ``click.user`` may decide it now; otherwise say why not."""
    try:
        approval, refusal = deps.engine.precheck(
            click.approval_id, click.user, click.origin, click.shows_request, click.version
        )
    except Exception:
        logger.exception("could not check a click before opening a form")
        _tell(deps, click, NOT_OPENED)
        return None
    if refusal:
        # Where they clicked (a DM copy is theirs alone), as a decision's answer is said.
        where = outcomes.where(refusal, click.channel, click.user)
        # Slack will not show it in someone else's DM (a click on App Home): then in theirs.
        deps.slack.tell_or_dm(where, click.user, outcomes.sentence(refusal) or NOT_OPENED)
        return None
    return approval


def _as_shown(approval: Approval, edited: list[dict[str, Any] | None]) -> Approval:
    """The request as its card shows it: with an edit that stands (``edited``), its form starts
    from the edited values (the version being signed), not from what the agent proposed."""
    if not edited or approval.review is None:
        return approval
    return replace(approval, review=approval.review.with_values(edited))


def _edited(approval: Approval, deps: ListenerDeps) -> list[dict[str, Any] | None]:
    """The values of the edit that stands on the request, per proposal (None: as proposed)."""
    edit = deps.tally.standing_edit(approval)
    return (card.edited_values(approval, edit) or []) if edit is not None else []


def _show(click: Click, view: dict[str, Any], deps: ListenerDeps) -> None:
    """Open a modal, bound to the request, version and person it is for; a trigger that expired
    (it lives 3 s) gets a note, not silence."""
    if view.get("private_metadata"):
        _, _, name = str(view["private_metadata"]).partition(":")
        metadata = seal(deps.modal_key, click.approval_id, click.version, click.user, name)
        view = {**view, "private_metadata": metadata}
    try:
        deps.slack.open_view(click.trigger_id or "", view)
    except SlackApiError as problem:
        logger.warning("views.open failed: %s", problem.response.get("error"))
        _tell(deps, click, NOT_OPENED)


def _offered(approval: Approval | None, name: str) -> Choice | None:
    """The graph's own button called ``name``, if the request still offers it."""
    extra = approval.review.extra if approval and approval.review else ()
    return next((c for c in extra if c.name == name), None)


def _tell(deps: ListenerDeps, click: Click, text: str) -> None:
    deps.slack.tell_or_dm(click.channel or click.user, click.user, text)


def _who_where(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """The clicking user and the channel, when they are what Slack sends (ids as strings)."""
    user, channel = body.get("user"), body.get("channel")
    user_id = user.get("id") if isinstance(user, dict) else None
    channel_id = channel.get("id") if isinstance(channel, dict) else None
    return (
        user_id if isinstance(user_id, str) and user_id else None,
        channel_id if isinstance(channel_id, str) and channel_id else None,
    )


def _value(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    value = actions[0].get("value") if isinstance(actions[0], dict) else None
    return value if isinstance(value, str) else ""


def _action_id(body: dict[str, Any]) -> str:
    actions = body.get("actions") or [{}]
    return str(actions[0].get("action_id") or "") if isinstance(actions[0], dict) else ""
