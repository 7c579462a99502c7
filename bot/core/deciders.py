"""Who may decide a request. Fails closed: when in doubt, nobody but the rules' people.

A request's stage (:class:`bot.core.signoff.Stage`) lists its approvers (users and user groups).
With a list, only those people may decide, and the requester may not decide their own run
unless self approval is explicitly allowed; with none, only the requester decides their own run.
Every refusal names who may decide instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from bot.core.signoff import Stage

logger = logging.getLogger(__name__)

GroupMembers = Callable[[str], list[str]]


def is_group(entry: str) -> bool:
    return entry.startswith("S")


def who_may(stage: Stage, requester: str) -> str:
    """The people who may decide, as Slack mentions: "<@U1>, <@U2> or members of <!subteam^S1>"."""
    if not stage.approvers:
        return f"<@{requester}>"
    names = [f"<@{a}>" for a in stage.approvers if not is_group(a)]
    names += [f"members of <!subteam^{a}>" for a in stage.approvers if is_group(a)]
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def refusal(
    user: str,
    requester: str,
    stage: Stage,
    members: frozenset[str] | None,
    signed: Iterable[str] = (),
    what: str = "this request",
) -> str | None:
    """Why ``user`` may not decide, or None when they may. ``members`` is the stage's
    approvers resolved to user IDs (None when that failed); ``signed`` are the people who
    signed an earlier stage or request of the run, where each person may sign once."""
    who = who_may(stage, requester)
    if not stage.approvers:
        if user != requester:
            return f"Only {who}, who started this run, can decide {what}."
        if user in set(signed):
            return (
                f"This run needs a second person to sign {what}, but only {who} may decide "
                "it: list approvers in APPROVERS or in the policy file."
            )
        return None
    if members is None:
        return (
            "I couldn't check the approvers list with Slack just now, so I can't accept this. "
            f"{what.capitalize()} is for {who}."
        )
    if user not in members:
        return f"Only {who} can decide {what}."
    if user == requester and not stage.allow_self:
        return f"You started this run, so someone else has to decide {what}: {who}."
    if user in set(signed):
        return f"You already signed for this run, so someone else has to decide {what}: {who}."
    return None


class Directory:
    """Resolves approver lists (users and user groups) to user IDs; each group's members are
    cached for ``ttl`` seconds, so a click costs no Slack call most of the time."""

    def __init__(self, group_members: GroupMembers, ttl: float = 60.0) -> None:
        self._group_members = group_members
        self._ttl = ttl
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def members(self, approvers: Iterable[str]) -> frozenset[str] | None:
        """Everyone on the list; None when a group could not be resolved."""
        users: set[str] = set()
        for entry in approvers:
            if not is_group(entry):
                users.add(entry)
                continue
            group = self._group(entry)
            if group is None:
                return None
            users |= group
        return frozenset(users)

    def _group(self, group: str) -> frozenset[str] | None:
        with self._lock:
            cached = self._cache.get(group)
            if cached and time.monotonic() - cached[0] < self._ttl:
                return cached[1]
        try:
            resolved = frozenset(self._group_members(group))
        except Exception:
            logger.exception("could not resolve approver user group %s", group)
            return None
        with self._lock:
            self._cache[group] = (time.monotonic(), resolved)
        return resolved

    def refusal(
        self,
        user: str,
        requester: str,
        stage: Stage,
        signed: Iterable[str] = (),
        what: str = "this request",
    ) -> str | None:
        members = self.members(stage.approvers) if stage.approvers else frozenset()
        return refusal(user, requester, stage, members, signed, what)
