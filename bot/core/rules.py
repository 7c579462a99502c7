"""Remembered approvals at work: the offer a new request's card makes, the rule a person makes
with it, the rule that answers a later request in its scope, and who sees and revokes rules.

What the policy allows and what a rule covers are :mod:`bot.core.remember`'s (pure); the rows
are :mod:`bot.store.rules`'. Making a rule is a decision: the engine checks the clicker as it
checks an Approve (:meth:`bot.core.deciding.Decider.decide`), and the rule is made in the same
transaction as the request's claim, so a double click makes one rule or none.

Who sees a rule: the person who made it, the requester whose runs it approves, and ``ADMINS``.
Who revokes one: the person who made it, and ``ADMINS`` (a requester who wants to be asked again
asks either). A rule ends when it expires or is revoked; nothing else changes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bot.core import outcomes
from bot.core.deciders import is_group
from bot.core.journal import Journal
from bot.core.remember import Remembering, Scope, offered, scope_of
from bot.domain.models import Approval, Decision, Run
from bot.domain.review import Review
from bot.domain.signoff import SignOff
from bot.store.decisions import Closes, ClosesWithRule
from bot.store.repository import Store
from bot.store.rules import Rule
from bot.store.rules import Rules as RuleRows

# The members of some entries (users and groups); None when Slack could not say.
Members = Callable[[Iterable[str]], frozenset[str] | None]


@dataclass
class Rules:
    store: Store
    rows: RuleRows
    remembering: Remembering
    members: Members
    journal: Journal
    admins: tuple[str, ...] = ()

    # a new request ------------------------------------------------------------------------------
    def offer(self, run: Run, value: Any, sign_off: SignOff, review: Review) -> tuple[int, ...]:
        """The durations a new request's card offers to remember its approval for."""
        return offered(self.remembering.for_request(run.graph, value), sign_off, review)

    def matching(self, run: Run, approval: Approval) -> Rule | None:
        """The rule in force that covers a new request, if its card would offer one."""
        if approval.review is None or not approval.review.remember:
            return None
        scope = self._scope(run, approval)
        if scope is None:
            return None
        return self.rows.matching(scope.as_params(), self.store.clock())

    def settle(
        self, approval: Approval, rule: Rule, closing: Closes
    ) -> tuple[Approval, Rule] | None:
        """Claim the request as the rule's, if the rule is still in force now, with what the
        claim closes (its audit event, its jobs) in the same transaction."""
        return self.store.claim_by_rule(approval.id, rule.id, closing)

    # a person's "Approve, and don't ask again" ------------------------------------------------
    def permits(self, approval: Approval, seconds: int) -> bool:
        """Whether the request offers this duration, on its card and in today's policy."""
        if approval.review is None or seconds not in approval.review.remember:
            return False
        remember = self.remembering.for_request(approval.graph, approval.payload.get("value"))
        return remember is not None and seconds in remember.durations

    def claim(
        self, approval: Approval, decision: Decision, closing: ClosesWithRule, alone: bool = False
    ) -> tuple[Approval, Rule] | None:
        """Claim the request and make the rule, at once, with what the claim closes (its
        audit events, jobs and click) in the same transaction (None: the claim was lost;
        ``alone``: as for ``Store.claim``)."""
        run = self.store.get_run(approval.thread_id)
        scope = self._scope(run, approval) if run is not None else None
        if scope is None or decision.remember is None:
            return None
        expires_at = self.store.clock() + decision.remember
        params = scope.as_params()
        return self.store.claim_remembering(
            approval.id, decision, params, expires_at, closing, alone
        )

    def _scope(self, run: Run, approval: Approval) -> Scope | None:
        value = approval.payload.get("value")
        remember = self.remembering.for_request(run.graph, value)
        if remember is None:
            return None
        node = str(approval.payload.get("node") or "")
        return scope_of(run.graph, value, run.requester, run.channel, remember, node)

    # listing and revoking -----------------------------------------------------------------------
    def visible(self, user: str) -> list[Rule]:
        """The rules in force ``user`` may see, oldest first."""
        admin = self.is_admin(user)
        live = self.rows.live(self.store.clock())
        return [r for r in live if admin or user in (r.created_by, r.requester)]

    def may_revoke(self, rule: Rule, user: str) -> bool:
        return user == rule.created_by or self.is_admin(user)

    def revoke(self, rule_id: int, user: str) -> outcomes.Revoke:
        now = self.store.clock()
        rule = self.rows.get(rule_id)
        admin = self.is_admin(user)
        seen = rule is not None and (admin or user in (rule.created_by, rule.requester))
        if rule is None or not seen or rule.revoked_at is not None or rule.expires_at <= now:
            return outcomes.Revoke(outcomes.RevokeKind.NOT_FOUND, rule_id)
        if not self.may_revoke(rule, user):
            return outcomes.Revoke(outcomes.RevokeKind.REFUSED, rule_id, rule)
        # The revocation and its audit row in one round trip: never one without the other.
        revoked = self.rows.revoke(rule_id, user, now, [self.journal.revoked_entry(rule, user)])
        if revoked is None:  # revoked or expired meanwhile
            return outcomes.Revoke(outcomes.RevokeKind.NOT_FOUND, rule_id)
        return outcomes.Revoke(outcomes.RevokeKind.REVOKED, rule_id, revoked)

    def is_admin(self, user: str) -> bool:
        """Fails closed: a group Slack cannot resolve admits nobody."""
        if not user or is_group(user):
            return False
        if user in self.admins:
            return True
        for group in (a for a in self.admins if is_group(a)):
            resolved = self.members([group])
            if resolved is not None and user in resolved:
                return True
        return False
