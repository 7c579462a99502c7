"""What came of a person's decision, retry or cancel: typed values the core returns and each
edge (Slack, the HTTP API, the CLI) renders in its own words.

A decision ends in exactly one :data:`Outcome`; :attr:`won` says whether it is the one that
settled the request (the graph is resumed with it).
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import StrEnum
from typing import ClassVar, Literal

from bot.core.deciders import Refusal
from bot.domain.models import Approval
from bot.domain.signoff import Stage
from bot.domain.votes import Tally
from bot.store.rules import Rule


class Kind(StrEnum):
    APPLIED = "applied"  # this decision settled the request; the graph resumes with it
    VOTE_RECORDED = "vote_recorded"  # one vote among several; who is still needed
    DECIDED_MEANWHILE = "decided_meanwhile"  # counted, and another vote settled it just after
    NOT_FOUND = "not_found"
    REFUSED = "refused"  # this person may not decide it (the reason names who may)
    NOT_OFFERED = "not_offered"  # not one of the choices the request offers
    NOT_FROM_CARD = "not_from_card"  # a button that is not on the request's card
    ALREADY_DECIDED = "already_decided"
    EXPIRING = "expiring"  # sent at or after the deadline: the expiry decides, shortly
    CHANGED = "changed"  # edited since the person's card showed it
    REPLAYED = "replayed"  # this very click already won (a crash came after): nobody is told
    GAVE_UP = "gave_up"  # the click kept failing; nothing changed
    AGENT_REFUSED = "agent_refused"  # it settled the request, the graph refused it: asked again


@dataclass(frozen=True)
class Applied:
    """``applying``: the decision being carried out in the background (its result: the
    request, pending again, when the graph refused it; else None), for a caller that waits."""

    kind: ClassVar[Kind] = Kind.APPLIED
    approval: Approval
    applying: Future[Approval | None] | None = field(default=None, compare=False, repr=False)


Ballot = Literal["counted", "duplicate", "advanced", "returned"]


@dataclass(frozen=True)
class VoteRecorded:
    """``count``: the votes of the ballot's stage; ``stage``/``label``: the stage the request
    now waits on (the next one, when this vote completed a stage)."""

    kind: ClassVar[Kind] = Kind.VOTE_RECORDED
    approval: Approval
    ballot: Ballot
    count: Tally
    stage: Stage
    label: str


@dataclass(frozen=True)
class DecidedMeanwhile:
    kind: ClassVar[Kind] = Kind.DECIDED_MEANWHILE
    approval: Approval


@dataclass(frozen=True)
class NotFound:
    kind: ClassVar[Kind] = Kind.NOT_FOUND


@dataclass(frozen=True)
class Refused:
    kind: ClassVar[Kind] = Kind.REFUSED
    approval: Approval
    refusal: Refusal  # why not, and who may


@dataclass(frozen=True)
class NotOffered:
    kind: ClassVar[Kind] = Kind.NOT_OFFERED
    approval: Approval


@dataclass(frozen=True)
class NotFromCard:
    kind: ClassVar[Kind] = Kind.NOT_FROM_CARD
    approval: Approval
    card_link: str | None = None  # where the request's current card is, when known


@dataclass(frozen=True)
class AlreadyDecided:
    kind: ClassVar[Kind] = Kind.ALREADY_DECIDED
    approval: Approval  # as it stands now: who decided what, when


@dataclass(frozen=True)
class Expiring:
    """The decision came at or after the request's deadline, before its expiry ran (which waits
    for any click received in time still being recorded): it is not counted, and the expiry
    decides the request."""

    kind: ClassVar[Kind] = Kind.EXPIRING
    approval: Approval
    deadline: float


@dataclass(frozen=True)
class Changed:
    kind: ClassVar[Kind] = Kind.CHANGED
    approval: Approval


@dataclass(frozen=True)
class Replayed:
    kind: ClassVar[Kind] = Kind.REPLAYED
    approval: Approval


@dataclass(frozen=True)
class GaveUp:
    kind: ClassVar[Kind] = Kind.GAVE_UP


@dataclass(frozen=True)
class AgentRefused:
    """The decision settled the request and was handed to the graph, whose own code refused
    it (``approval.refused`` says why): the run did not go past the pause, and the request is
    pending again."""

    kind: ClassVar[Kind] = Kind.AGENT_REFUSED
    approval: Approval


Outcome = (
    Applied
    | VoteRecorded
    | DecidedMeanwhile
    | NotFound
    | Refused
    | NotOffered
    | NotFromCard
    | AlreadyDecided
    | Expiring
    | Changed
    | Replayed
    | GaveUp
    | AgentRefused
)


def won(outcome: Outcome) -> bool:
    """Whether this decision settled the request."""
    return isinstance(outcome, Applied)


def heard(outcome: Outcome) -> bool:
    """Whether the decision counted, settling the request or as one vote among several."""
    return isinstance(outcome, Applied | VoteRecorded)


# cancelling a run --------------------------------------------------------------------------
class CancelKind(StrEnum):
    CANCELLED = "cancelled"
    FINISHED = "finished"  # nothing to cancel: the run is in ``status`` already
    TOO_LATE = "too_late"  # a decision was claimed first: it is carried out, not undone
    BUSY = "busy"  # a step held the run past the lock's wait: nothing changed


@dataclass(frozen=True)
class Cancel:
    kind: CancelKind
    thread_id: str
    status: str = ""


# retrying a run ---------------------------------------------------------------------------
class RetryKind(StrEnum):
    RETRYING = "retrying"
    NOT_FOUND = "not_found"
    NOT_FAILED = "not_failed"  # nothing to retry: the run is in ``status``
    CARD_REFUSED = "card_refused"  # it failed because Slack refused its card: ask again
    REPLAYED = "replayed"  # this click retried it already (another taker worked it): say nothing


@dataclass(frozen=True)
class Retry:
    kind: RetryKind
    thread_id: str
    status: str = ""


# revoking a remembered approval ----------------------------------------------------------------
class RevokeKind(StrEnum):
    REVOKED = "revoked"
    NOT_FOUND = "not_found"  # no such rule in force that this person may see
    REFUSED = "refused"  # they may see it, but only its creator or an admin may revoke it


@dataclass(frozen=True)
class Revoke:
    kind: RevokeKind
    rule_id: int
    rule: Rule | None = None
