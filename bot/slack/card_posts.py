"""Posting approval cards, each request on its own schedule.

A post ends one of three ways (:data:`Outcome`):

- ``posted``: the card is up and its ts recorded;
- ``retry``: Slack or the network failed for now (a 5xx, a 429 past slack_sdk's own retries, a
  connection refused...). The request counts the failure and waits out an exponential, jittered
  backoff (:mod:`bot.core.backoff`, from ``retry_after``: the scheduler's tick, so the first retry
  comes with the next tick) before the recovery sweep tries it again;
- ``refused``: Slack would refuse the same post whenever it is tried
(``bot.slack.errors.REFUSALS``: no
  such channel for the bot, not a member, archived, invalid blocks). The request and its run are
  closed as failed and the requester is told once, in a direct message, why and what to do.

The sweep reads only cards that are due, at most ``per_channel`` of each channel a tick, oldest
due first: runs started where the bot cannot post are closed at their first refusal, and a card
that keeps failing waits its turn, so neither takes the place of a card that can be posted.
"""

from __future__ import annotations

import logging
import random
from collections import Counter
from collections.abc import Callable
from typing import Literal

from bot.core.backoff import backoff
from bot.core.journal import Journal
from bot.core.ledger import Ledger
from bot.domain.models import Approval
from bot.slack.blocks import notices
from bot.slack.card_publisher import Cards
from bot.slack.client import Slack
from bot.slack.errors import refusal
from bot.store.db import Database
from bot.store.repository import Store

logger = logging.getLogger(__name__)

Outcome = Literal["posted", "retry", "refused"]
PER_CHANNEL = 10  # cards of one channel tried per sweep
LIMIT = 50  # cards tried per sweep, all channels together


class CardPosts:
    def __init__(
        self,
        store: Store,
        cards: Cards,
        slack: Slack,
        db: Database,
        ledger: Ledger,
        journal: Journal,
        retry_after: float,
        rand: Callable[[], float] = random.random,
        per_channel: int = PER_CHANNEL,
        limit: int = LIMIT,
    ) -> None:
        self.store = store
        self.cards = cards
        self.slack = slack
        self.db = db
        self.ledger = ledger
        self.journal = journal
        self.retry_after = retry_after  # the first backoff's ceiling; it doubles from there
        self.rand = rand
        self.per_channel = per_channel
        self.limit = limit

    def post(self, approval: Approval) -> Outcome:
        """Post a pending request's card; the caller holds its thread's lock (so the request
        was read fresh, and nobody else is posting it)."""
        try:
            self.cards.post(approval)
        except Exception as exc:
            error = refusal(exc)
            outcome: Outcome = "retry" if error is None else "refused"
            try:
                if error is None:
                    self._retry(approval, exc)
                else:
                    self._refused(approval, error)
            except Exception:
                # The database did not take it (nor its audit rows, written with it): a request
                # left pending without a card is the sweep's again (as one never tried, or
                # due as before), and is refused or posted then.
                logger.exception("request %s: could not record its card's %s", approval.id, outcome)
            return outcome
        return "posted"

    def ensure(self, approval: Approval) -> Outcome | None:
        """Post the card of a request the sweep found, if it still has none; None when there
        was nothing to do (posted, decided or closed meanwhile)."""
        with self.db.key_lock(approval.thread_id):
            current = self.store.get_approval(approval.id)
            if current is None or not current.pending or current.ts is not None:
                return None
            return self.post(current)

    def sweep(self, older_than: float) -> Counter[str]:
        """Post every card that is due (a failed one whose backoff has passed, or one never
        tried that is older than ``older_than``); how each went."""
        outcomes: Counter[str] = Counter()
        for approval in self.store.cards_due(older_than, self.limit, self.per_channel):
            # One card's trouble (the database, a lock) must not hold up the others.
            try:
                outcome = self.ensure(approval)
            except Exception:
                logger.exception("card sweep: could not post request %s", approval.id)
                continue
            if outcome is not None:
                outcomes[outcome] += 1
        return outcomes

    def _retry(self, approval: Approval, exc: Exception) -> None:
        attempt = approval.card_attempts + 1
        wait = backoff(attempt, self.rand, self.retry_after)
        error = f"{type(exc).__name__}: {exc}"
        # The try's count and its audit row in one round trip: never one without the other.
        entry = self.journal.card_retry_entry(approval, attempt, wait, error)
        if not self.store.card_retry(approval.id, self.store.clock() + wait, [entry]):
            return  # decided or posted meanwhile: nothing is owed
        self.journal.card_retried()
        logger.warning(
            "card for request %s not posted (try %d): %s; next try in %.1f s",
            approval.id,
            attempt,
            error,
            wait,
        )

    def _refused(self, approval: Approval, error: str) -> None:
        logger.warning("Slack refused the card of request %s: %s", approval.id, error)
        reason = f"The approval card could not be posted: Slack answered {error}."
        # The request's close, its run's failure and their audit rows in one round trip.
        events = self.journal.card_refused_entries(approval, error, reason)
        if self.store.card_refused(approval.id, reason, events) is None:
            return  # decided meanwhile (the API needs no card): that decision stands
        self.journal.card_given_up(error)
        text = notices.card_refused(approval, error)
        # Once per run (its requests all go to one channel, so all are refused alike).
        key = f"{approval.thread_id}:card-refused"
        try:
            self.ledger.once(key, lambda: self.slack.dm(approval.requester, text))
        except Exception:
            logger.exception("could not tell %s that their card was refused", approval.requester)
