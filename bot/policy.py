"""Who may decide a request. Fails closed: when in doubt, nobody but the rules' people.

With ``APPROVERS`` set, only those users (and members of those user groups) may decide, and the
requester may not decide their own run unless self approval is explicitly allowed. With it
unset, only the requester decides their own run.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)

GroupMembers = Callable[[str], list[str]]


@dataclass(frozen=True)
class Rules:
    approvers: tuple[str, ...]
    allow_self_approval: bool = False


def refusal(user: str, requester: str, rules: Rules, members: frozenset[str] | None) -> str | None:
    """Why ``user`` may not decide, or None when they may. ``members`` is APPROVERS resolved
    to user IDs, or None when it could not be resolved."""
    if not rules.approvers:
        if user == requester:
            return None
        return f"Only <@{requester}>, who started this run, can decide it."
    if members is None:
        return "I couldn't check the approvers list with Slack just now, so I can't accept this."
    if user not in members:
        return "You're not on the approvers list for these requests."
    if user == requester and not rules.allow_self_approval:
        return "You started this run, so someone else on the approvers list has to decide it."
    return None


class Approvers:
    """Resolves APPROVERS (users and user groups) to user IDs, caching group lookups."""

    def __init__(self, rules: Rules, group_members: GroupMembers, ttl: float = 60.0) -> None:
        self.rules = rules
        self._group_members = group_members
        self._ttl = ttl
        self._cache: tuple[float, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def members(self) -> frozenset[str] | None:
        with self._lock:
            if self._cache and time.monotonic() - self._cache[0] < self._ttl:
                return self._cache[1]
        users = {a for a in self.rules.approvers if not a.startswith("S")}
        try:
            for group in (a for a in self.rules.approvers if a.startswith("S")):
                users.update(self._group_members(group))
        except Exception:
            logger.exception("could not resolve approver user groups")
            return None
        resolved = frozenset(users)
        with self._lock:
            self._cache = (time.monotonic(), resolved)
        return resolved

    def refusal(self, user: str, requester: str) -> str | None:
        members = self.members() if self.rules.approvers else frozenset()
        return refusal(user, requester, self.rules, members)
