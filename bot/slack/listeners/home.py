"""App Home: what is waiting for a decision, your runs and the remembered approvals you may see,
whenever someone opens the tab; its Revoke buttons stop a remembered approval."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt import Ack

from bot.core.outcomes import RevokeKind
from bot.slack.blocks.home import MAX_LISTED, home_view
from bot.slack.blocks.rules import home_blocks, revoke_sentence
from bot.slack.listeners.context import ListenerDeps

logger = logging.getLogger(__name__)


def home_opened(event: dict[str, Any], *, deps: ListenerDeps) -> None:
    if event.get("tab", "home") != "home" or not event.get("user"):
        return
    _publish(event["user"], deps)


def revoke(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    """A Revoke button on App Home: the same check as ``/agent rules revoke``."""
    ack()
    user = (body.get("user") or {}).get("id") if isinstance(body.get("user"), dict) else None
    actions = body.get("actions") or [{}]
    value = actions[0].get("value") if isinstance(actions[0], dict) else None
    service = deps.rules
    if not isinstance(user, str) or not user or service is None:
        return
    if not isinstance(value, str) or not value.isdigit() or len(value) > 12:
        deps.slack.tell_or_dm(user, user, "That Revoke button isn't one of mine; nothing changed.")
        return
    outcome = service.revoke(int(value), user)
    if outcome.kind != RevokeKind.REVOKED:
        deps.slack.tell_or_dm(user, user, revoke_sentence(outcome))
    _publish(user, deps)


def _publish(user: str, deps: ListenerDeps) -> None:
    runs = [(r, deps.store.latest_card(r.thread_id)) for r in deps.store.runs_of(user)]
    # Only what this person may see (bot.core.access), and only its count: not the workspace's.
    pending = deps.access.pending(user)
    service = deps.rules
    rules = service.visible(user) if service is not None else []
    revocable = {r.id for r in rules if service is not None and service.may_revoke(r, user)}
    listed = pending[:MAX_LISTED]
    edits = {a.id: e for a in listed if (e := deps.tally.standing_edit(a)) is not None}
    view = home_view(listed, len(pending), runs, home_blocks(rules, revocable), edits)
    deps.slack.publish_home(user, view)
