"""Who may see a run, and who may look after it (cancel, retry): one rule for every door.

A run is shown to, and may be cancelled or retried by, exactly these people:

- its requester;
- the approvers of its requests, every stage of every request (user groups resolved through
  the :class:`~bot.core.deciders.Directory`); a request without approvers is decided by the
  requester
  alone, so it adds nobody;
- ``ADMINS`` (users and user groups).

Everyone else is told what they would be told about a run that does not exist, so the answer
is no oracle for private runs. The rule itself (:func:`audience`, :func:`admits`) is pure; the
:class:`Access` around it reads what it needs from the store. A run with no request yet has no
approvers: until its agent first pauses, only its requester and the admins see it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.core.deciders import is_group
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, Run
from bot.domain.signoff import SignOff
from bot.store.repository import Store

# The members of some approver entries (users and groups); None when Slack could not say.
Members = Callable[[Iterable[str]], frozenset[str] | None]
LOOK_AHEAD = 50  # runs read for a short id before "give more of its id"


@dataclass(frozen=True)
class Audience:
    """The people a run is shown to: its requester and these entries (users and groups)."""

    requester: str
    entries: tuple[str, ...]


def audience(requester: str, sign_offs: Iterable[SignOff], admins: Iterable[str]) -> Audience:
    """A run's audience, from its requester, its requests' sign-offs and the admins."""
    entries: list[str] = []
    for sign_off in sign_offs:
        for stage in sign_off.stages:
            entries.extend(a for a in stage.approvers if a not in entries)
    entries.extend(a for a in admins if a not in entries)
    return Audience(requester, tuple(entries))


def admits(seen_by: Audience, user: str, members: Members) -> bool:
    """Whether ``user`` is in the audience. Fails closed: a user group Slack cannot resolve
    admits nobody (each group on its own, so one failing group hides nothing the others show)."""
    if not user or is_group(user):  # a group's id is nobody
        return False
    if user == seen_by.requester or user in seen_by.entries:
        return True
    for group in (e for e in seen_by.entries if is_group(e)):
        resolved = members([group])
        if resolved is not None and user in resolved:
            return True
    return False


@dataclass(frozen=True)
class Found:
    """What a run id a person typed names, among the runs they may see."""

    run: Run | None  # the one run, when exactly one matches
    ambiguous: bool = False


@dataclass
class Access:
    store: Store
    tally: SignOffTally
    admins: tuple[str, ...] = ()

    def may_see(self, run: Run, user: str, approvals: Sequence[Approval] | None = None) -> bool:
        """Whether ``user`` may see ``run`` (``approvals``: its requests, when already read)."""
        approvals = self.store.run_approvals(run.thread_id) if approvals is None else approvals
        return self._admits(run.requester, approvals, user)

    def may_manage(self, run: Run, user: str) -> bool:
        """Whether ``user`` may cancel or retry ``run``: the same people who may see it."""
        return self.may_see(run, user)

    def may_see_request(self, approval: Approval, user: str) -> bool:
        """Whether ``user`` may see a request: whether they may see its run."""
        return self._admits(approval.requester, self.store.run_approvals(approval.thread_id), user)

    def find(self, prefix: str, user: str) -> Found:
        """The run whose id starts with ``prefix``, among those ``user`` may see; runs they
        may not see are not counted, so "more than one" says nothing about them either."""
        seen: list[Run] = []
        candidates = self.store.runs_by_prefix(prefix, limit=LOOK_AHEAD)
        for run in candidates:
            if self.may_see(run, user):
                seen.append(run)
                if len(seen) > 1:
                    return Found(None, ambiguous=True)
        if len(candidates) >= LOOK_AHEAD:  # more than we read: a longer id is needed
            return Found(None, ambiguous=True)
        return Found(seen[0] if seen else None)

    def pending(self, user: str, limit: int = 500) -> list[Approval]:
        """The pending requests ``user`` may see, oldest first (of the oldest ``limit``)."""
        waiting = self.store.pending(limit)
        by_run: dict[str, list[Approval]] = {}
        for sibling in self.store.approvals_of_runs({a.thread_id for a in waiting}):
            by_run.setdefault(sibling.thread_id, []).append(sibling)
        shown: dict[str, bool] = {}
        for approval in waiting:
            if approval.thread_id not in shown:
                run_approvals = by_run.get(approval.thread_id, [approval])
                shown[approval.thread_id] = self._admits(approval.requester, run_approvals, user)
        return [a for a in waiting if shown[a.thread_id]]

    def _admits(self, requester: str, approvals: Iterable[Approval], user: str) -> bool:
        sign_offs = [self.tally.sign_off(a) for a in approvals]
        seen_by = audience(requester, sign_offs, self.admins)
        return admits(seen_by, user, self.tally.directory.members)
