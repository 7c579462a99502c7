"""Who may decide a request. Fails closed: when in doubt, nobody but the rules' people.

A request's stage (:class:`bot.domain.signoff.Stage`) lists its approvers (users and user groups).
With a list, only those people may decide, and the requester may not decide their own run
unless self approval is explicitly allowed; with none, only the requester decides their own run.
Every refusal names who may decide instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.signoff import Stage

logger = logging.getLogger(__name__)

GroupMembers = Callable[[str], list[str]]


def is_group(entry: str) -> bool:
    return entry.startswith("S")


class Why(StrEnum):
    """Why someone may not decide; each names who may instead (the edges say it)."""

    NOT_REQUESTER = "not_requester"  # no approvers listed: only the requester decides
    NO_SECOND_PERSON = "no_second_person"  # a second signature is needed, nobody else may
    UNCHECKED = "unchecked"  # the approvers' groups could not be resolved (fails closed)
    NOT_LISTED = "not_listed"
    OWN_RUN = "own_run"  # the requester, without self approval
    SIGNED_BEFORE = "signed_before"  # signed another part of this run
    # One hand, one voice: the same person (or API token) already voted as someone else,
    # on this request or, where each person signs one part of a run, on another part.
    VOTED_AS_ANOTHER = "voted_as_another"
    SIGNED_AS_ANOTHER = "signed_as_another"


@dataclass(frozen=True)
class Refusal:
    """``user`` may not decide ``what`` (say "this request", or a stage of it): ``stage``'s
    people may (the requester, when it lists none)."""

    why: Why
    stage: Stage
    requester: str
    what: str = "this request"
    # VOTED_AS_ANOTHER, SIGNED_AS_ANOTHER: who the earlier vote counted as, and the API token
    # that cast it (None: cast in Slack by that person).
    voted_as: str | None = None
    token: str | None = None
    # OWN_RUN: the holder of the API token that started the run in the requester's name.
    asked_by: str | None = None


def refusal(
    user: str,
    requester: str,
    stage: Stage,
    members: frozenset[str] | None,
    signed: Iterable[str] = (),
    what: str = "this request",
    hand: str | None = None,
    asked_by: str | None = None,
) -> Refusal | None:
    """Why ``user`` may not decide, or None when they may. ``members`` is the stage's
    approvers resolved to user IDs (None when that failed); ``signed`` are the people who
    signed an earlier stage or request of the run, where each person may sign once; ``hand``:
    who is behind the decision when an API token names ``user`` (the token's own user), who
    may not approve their own run either, whoever the token names; ``asked_by``: likewise on
    the asking side, the holder of the token that started the run in ``requester``'s name."""

    def refused(why: Why) -> Refusal:
        return Refusal(why, stage, requester, what, asked_by=asked_by)

    if not stage.approvers:
        if user != requester:
            return refused(Why.NOT_REQUESTER)
        if user in set(signed):
            return refused(Why.NO_SECOND_PERSON)
        return None
    if members is None:
        return refused(Why.UNCHECKED)
    if user not in members:
        return refused(Why.NOT_LISTED)
    asking = {requester, asked_by} - {None}
    if asking & {user, hand} and not stage.allow_self:
        return refused(Why.OWN_RUN)
    if user in set(signed):
        return refused(Why.SIGNED_BEFORE)
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
        hand: str | None = None,
        asked_by: str | None = None,
    ) -> Refusal | None:
        members = self.members(stage.approvers) if stage.approvers else frozenset()
        return refusal(user, requester, stage, members, signed, what, hand, asked_by)
