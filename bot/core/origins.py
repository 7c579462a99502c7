"""Where a click came from, and whether it counts there: the request's own card, one of its
copies (in a decider's direct messages, in a later stage's channel), the App Home list or a
modal we opened. A click on a card whose ts we have not recorded yet adopts that card; a click on
a stale copy of a card strips that copy's buttons and points at the current card."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.core import outcomes
from bot.core.outcomes import Outcome
from bot.core.ports import Publisher
from bot.domain.models import Approval, Decision
from bot.store.db.base import Database
from bot.store.db.locks import LockBusy
from bot.store.repository import Store

logger = logging.getLogger(__name__)


@dataclass
class Origins:
    store: Store
    db: Database
    publisher: Publisher
    # Seconds a click's check waits for its run's lock before it goes on without (it comes
    # before a modal opens, and a trigger_id lives 3 s).
    quick_lock: float = 1.0

    def not_from_card(self, approval: Approval, decision: Decision) -> Outcome:
        """Refuse a click from somewhere else than the request's card. A second copy of the
        card in its channel (a crash came between Slack posting a card and us recording it,
        and the card was posted again) loses its buttons and points at the current card."""
        link = self.publisher.card_link(approval) if approval.ts else None
        prefix = f"message:{approval.channel}:"
        # Only a message that itself shows this request's buttons is a copy of its card.
        copy = decision.shows_request and approval.ts is not None
        if copy and decision.origin and decision.origin.startswith(prefix):
            stale_ts = decision.origin.removeprefix(prefix)
            try:
                self.publisher.retire_copy(approval, stale_ts, link)
            except Exception:
                logger.exception("could not retire a stale copy of card %s", approval.id)
        return outcomes.NotFromCard(approval, link)

    def from_a_card(self, approval: Approval, origin: str | None) -> bool:
        """From the request's card, or one of its copies (in a decider's direct messages, in
        a later stage's channel): every copy is a door to the same rules."""
        if from_its_card(approval, origin):
            return True
        kind, _, place = (origin or "").partition(":")
        channel, _, ts = place.partition(":")
        return kind == "message" and bool(ts) and self.store.is_card_post(approval.id, channel, ts)

    def with_card(
        self, approval: Approval, origin: str | None, shows: bool, quick: bool = False
    ) -> Approval:
        """The request with its card's ts, when a click comes from a card whose ts we lack.

        A click can beat us recording the ts (the card is posted under the thread's lock, so
        once we hold it the ts is there), or a crash came between Slack posting the card and
        us recording it: then the clicked message, if it is in the request's channel and shows
        this request's own buttons (``shows``), is adopted as its card, so the decision
        updates the message the person actually sees. ``quick``: before a modal opens, the
        lock is waited for briefly, then the request is taken as it is (LockBusy otherwise).
        """
        if approval.ts is not None or origin in (None, "view"):
            return approval
        if not quick:
            with self.db.key_lock(approval.thread_id):
                return self._adopt(approval, origin, shows)
        try:
            with self.db.key_lock(approval.thread_id, self.quick_lock):
                return self._adopt(approval, origin, shows)
        except LockBusy:  # the click's own processing looks again, with time to wait
            return self.store.get_approval(approval.id) or approval

    def _adopt(self, approval: Approval, origin: str | None, shows: bool) -> Approval:
        current = self.store.get_approval(approval.id) or approval
        prefix = f"message:{current.channel}:"
        if current.ts is None and shows and origin and origin.startswith(prefix):
            self.store.set_card(current.id, current.channel, origin.removeprefix(prefix))
            current = self.store.get_approval(approval.id) or current
        return current


def from_its_card(approval: Approval, origin: str | None) -> bool:
    """A click counts only from the request's own card or the App Home list; modals we opened
    carry no origin (their opening click was checked)."""
    if origin is None or origin == "view":
        return True
    return approval.ts is not None and origin == f"message:{approval.channel}:{approval.ts}"
