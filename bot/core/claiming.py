"""Claiming a request one click settles: one conditional statement moves it out of ``pending``
(whoever loses the race is told who won), making with it the rule a remembered approval asks
for, and, when the run's lock is free, counting the first attempt at applying it under that lock.
A claim whose answer was lost is read back, so the click that won is never told it lost."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from functools import partial

from bot.core.journal import Journal
from bot.core.rules import Rules
from bot.domain.models import Approval, Decision
from bot.store.attempts import ApplyStart
from bot.store.db.base import Database
from bot.store.db.locks import LockBusy
from bot.store.decisions import Closing
from bot.store.repository import Store
from bot.store.rules import Rule

logger = logging.getLogger(__name__)


@dataclass
class Claimer:
    store: Store
    db: Database
    journal: Journal
    # Remembered approvals (bot.core.rules); None when the policy file allows none.
    rules: Rules | None = None

    def claim(
        self,
        approval: Approval,
        decision: Decision,
        entry: str | None = None,
        held: ExitStack | None = None,
        alone: bool = False,
    ) -> tuple[Approval | None, ApplyStart | None]:
        """Claim a request one click settles; a remembered approval makes its rule with it.
        A claim that wins closes the request's jobs, audit event and click ``entry`` in its
        own transaction. Also, when the claim began applying the decision too, what that
        attempt starts from.

        ``held``: the caller applies the decision itself once claimed. If the run's lock is
        free, it is taken now (and kept in ``held``), and a claim that wins counts its first
        attempt at applying in the same statement (``Store.claim_begin``): the attempt is
        counted under the lock, as :meth:`~bot.core.applying.Applier.try_apply` would, and the
        lock is not let go before the resume, so nothing can come between. A busy run is not
        waited for here: the claim is made by itself and ``Applier.try_apply`` waits for the lock
        as usual.

        ``alone``: the click was checked without the run's sign-off lock (``SignOffTally.guarded``);
        the claim is then lost to a request signed by distinct people recorded in its run
        meanwhile, which marked this one.

        A claim whose answer was lost (the connection dropped at its commit) is read back: if
        this very click won, it is carried out now, as any claim it won, not a minute later by
        the recovery sweep (its click, closed by the claim, is never retried)."""
        try:
            return self._claim_once(approval, decision, entry, held, alone)
        except Exception:
            latest = self.store.get_approval(approval.id)
            if latest is None or not replayed(latest, decision):
                raise
            logger.warning("request %s: claimed, though the answer was lost", approval.id)
            return latest, None

    def _claim_once(
        self,
        approval: Approval,
        decision: Decision,
        entry: str | None,
        held: ExitStack | None,
        alone: bool,
    ) -> tuple[Approval | None, ApplyStart | None]:
        if decision.remember is None or self.rules is None:
            closing = self.journal.closing(approval, decision, entry=entry)
            if held is not None and _took(held, self.db.try_lock(approval.thread_id)):
                start = self.store.claim_begin(approval.id, decision, closing, alone)
                return (start.approval, start) if start else (None, None)
            return self.store.claim(approval.id, decision, closing, alone), None
        closes = partial(self._made, entry=entry)
        made = self.rules.claim(approval, decision, closes, alone)
        return (made[0] if made else None), None

    def _made(self, claimed: Approval, rule: Rule, entry: str | None) -> Closing:
        """What a claim that made ``rule`` closes: the rule's event and the decision's."""
        return self.journal.closed(claimed, entry=entry, made=rule)


def replayed(approval: Approval, decision: Decision) -> bool:
    """This very click already won the request's claim: a crash came after it and before its
    inbox entry was closed. Applying it is the recovery sweep's work; nobody is told again."""
    won = approval.decision
    return decision.receipt is not None and won is not None and won.receipt == decision.receipt


def _took(held: ExitStack, lock: AbstractContextManager[None]) -> bool:
    """Whether ``lock`` was free: then it is held until ``held`` closes."""
    try:
        held.enter_context(lock)
    except LockBusy:
        return False
    return True
