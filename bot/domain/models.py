"""Typed records the engine works with; nothing here knows about Slack's JSON."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from bot.domain.review import Review
from bot.domain.signoff import SignOff


def new_id() -> str:
    """A new record's id: 16 hex digits (a request, a click, a job)."""
    return secrets.token_hex(8)


# A request is "pending", or what the decision made it (a graph's own button, such as "Request
# changes", is "decided"; a card Slack refuses for good closes it "failed").
Status = Literal[
    "pending",
    "approved",
    "edited",
    "rejected",
    "expired",
    "responded",
    "ignored",
    "answered",
    "cancelled",
    "decided",
    "failed",
]
# A run is on the move ("running"), waits for a person, was ended by a decision ("stopped": only
# its report is left), or is over.
RunStatus = Literal["running", "waiting", "stopped", "done", "failed", "cancelled"]
JobStatus = Literal["pending", "done", "cancelled"]

STATUS_FOR: dict[str, Status] = {
    "approve": "approved",
    "edit": "edited",
    "reject": "rejected",
    "expire": "expired",
    "respond": "responded",
    "ignore": "ignored",
    "answer": "answered",
    "cancel": "cancelled",
}


def status_for(decision: Decision) -> Status:
    """The request's status once ``decision`` is taken; a batch is summed up by its items."""
    if decision.items:
        kinds = {str(item.get("type")) for item in decision.items}
        if kinds == {"approve"}:
            return "approved"
        if kinds == {"reject"}:
            return "rejected"
        if kinds <= {"approve", "edit"}:
            return "edited"
        return "decided"
    return STATUS_FOR.get(decision.type, "decided")


@dataclass(frozen=True)
class RunRequest:
    """What `/agent` asked for."""

    graph: str
    text: str
    requester: str
    channel: str
    approvals_channel: str
    # An API token asking in ``requester``'s name (``on_behalf``): the token, and its holder.
    on_behalf_of: str | None = None
    hand: str | None = None


@dataclass(frozen=True)
class Decision:
    """A person's (or the scheduler's) answer to one approval request."""

    type: str  # approve, edit, reject, respond, ignore, answer, expire, or a settings choice
    by: str
    text: str | None = None
    parameters: dict[str, Any] | None = None  # the form's values (edit, answer)
    reason: str | None = None
    expire_as: Literal["reject", "approve"] = "reject"
    message: str | None = None  # a reply (respond) or notes (a settings choice)
    items: list[dict[str, Any]] | None = None  # one decision per proposal of a batch
    # Where a click came from: "message:<channel>:<ts>" (a card), "view" (App Home), or
    # None for a modal we opened ourselves. A click must come from its request's card.
    origin: str | None = None
    receipt: str | None = None  # the inbox entry it arrived as
    shows_request: bool = False  # the clicked message carries this request's buttons
    approvers: list[str] | None = None  # everyone who signed, when it took more than one
    # The version of the request's content this decision was made on (buttons and modals
    # carry it); None: the first version. A vote for an older version is refused.
    version: int | None = None
    via: str | None = None  # the door it came through: None (Slack), "api", "scheduler", "rule"
    on_behalf_of: str | None = None  # an API principal acting for the Slack user ``by``
    # The Slack user who holds that principal, as the deployment said when the vote was cast: a
    # token's votes stay its holder's after the token is removed from API_TOKENS or handed on.
    hand: str | None = None
    # "Approve, and don't ask again for …": the seconds the approval is to be remembered for.
    remember: int | None = None
    # The remembered approval (bot.core.rules) this decision made (with ``remember``) or that
    # took it (``via="rule"``; ``by`` is then the person who made the rule).
    rule: int | None = None

    @property
    def effective_type(self) -> str:
        """What the graph is told: an expiry acts as its policy's approve or reject."""
        return self.expire_as if self.type == "expire" else self.type

    def resume_value(self) -> dict[str, Any]:
        """The bot's documented resume value, for graphs with no settings of their own."""
        value: dict[str, Any] = {"type": self.effective_type, "by": self.by}
        if self.type == "expire":
            value["expired"] = True
        if self.text is not None:
            value["text"] = self.text
        if self.parameters is not None:
            value["parameters"] = self.parameters
        if self.message is not None:
            value["message"] = self.message
        if self.approvers:
            value["approvers"] = list(self.approvers)
        if self.type == "expire":
            value["reason"] = self.reason or "expired"
        elif self.reason:
            value["reason"] = self.reason
        return value

    def to_json(self) -> str:
        return json.dumps({k: v for k, v in self.__dict__.items() if v not in (None, False)})

    @classmethod
    def from_json(cls, text: str) -> Decision:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Approval:
    id: str
    thread_id: str
    interrupt_id: str
    graph: str
    request: str
    requester: str
    payload: dict[str, Any]
    channel: str
    ts: str | None
    status: Status
    created_at: float
    decided_by: str | None = None
    decided_at: float | None = None
    decision: Decision | None = None
    applied_at: float | None = None
    review: Review | None = None
    signoff: SignOff | None = None  # who must sign; None: the defaults of its time
    stage: int = 0  # the stage of ``signoff`` being signed now
    thread_ts: str | None = None  # a later round's card sits in the thread of the run's first
    version: int = 1  # of what is being signed: each edit of a counted request makes a new one
    card_attempts: int = 0  # card posts that failed so far (bot.slack.card_posts)
    refused: str | None = None  # why the graph refused the last answer it was handed
    # A request of its run (this one or another) is signed by distinct people: nobody signs
    # both it and another request of the run (bot.core.tally).
    distinct_run: bool = False

    @property
    def pending(self) -> bool:
        return self.status == "pending"

    def edited_values(self, decision: Decision | None = None) -> list[dict[str, Any] | None] | None:
        """What ``decision`` (default: its own) changed, per proposal, to show and sign instead
        of what was proposed (None: that proposal as proposed; a field an edit emptied is not
        among its values: the call runs without it)."""
        decision = decision or self.decision
        if decision is None:
            return None
        if decision.items:
            return [
                dict(i.get("values") or {}) if i.get("type") == "edit" else None
                for i in decision.items
            ]
        if decision.type in ("edit", "answer"):
            values = dict(decision.parameters or {})
            if decision.text is not None:
                values["text"] = decision.text
            return [values] * len(self.review.proposals if self.review else ())
        return None

    @property
    def signers(self) -> list[str]:
        """Who approved it: everyone who signed, or the one person who decided (a batch decided
        call by call, or an answer, signs for what it let run)."""
        ran = self.status in ("approved", "edited", "answered") or (
            self.status == "decided"
            and self.decision is not None
            and any(i.get("type") in ("approve", "edit") for i in self.decision.items or ())
        )
        if not ran:
            return []
        if self.decision is not None and self.decision.approvers:
            return list(self.decision.approvers)
        return [self.decided_by] if self.decided_by else []

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Approval:
        return cls(
            id=row["id"],
            thread_id=row["thread_id"],
            interrupt_id=row["interrupt_id"],
            graph=row["graph"],
            request=row["request"],
            requester=row["requester"],
            payload=json.loads(row["payload"]),
            channel=row["channel"],
            ts=row["ts"],
            status=row["status"],
            created_at=row["created_at"],
            decided_by=row["decided_by"],
            decided_at=row["decided_at"],
            decision=Decision.from_json(row["decision"]) if row["decision"] else None,
            applied_at=row["applied_at"],
            review=Review.from_dict(json.loads(row["review"])) if row.get("review") else None,
            signoff=_signoff(row.get("signoff")),
            stage=int(row.get("stage") or 0),
            thread_ts=row.get("thread_ts"),
            version=int(row.get("version") or 1),
            card_attempts=int(row.get("card_attempts") or 0),
            refused=row.get("refused"),
            distinct_run=bool(row.get("distinct_run")),
        )


@dataclass(frozen=True)
class CardPost:
    """A message that shows a request: a ``card`` (in a channel, or in ``person``'s direct
    messages), or the ``notice`` telling the requester where the card waits."""

    approval_id: str
    kind: Literal["card", "notice"]
    channel: str
    ts: str
    person: str | None = None
    stage: int = 0

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> CardPost:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Waiting:
    """A pending request as a reminder digest lists it: a lean read of its row. A tick may
    list a thousand of them, so the review is not parsed (only its one-word ``summary`` is
    read) and the payload is parsed only when asked for."""

    id: str
    thread_id: str
    graph: str
    request: str
    requester: str
    channel: str
    ts: str | None
    created_at: float
    summary: str
    signoff: SignOff | None
    stage: int
    payload_json: str

    @property
    def payload(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.payload_json)
        return value

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Waiting:
        plain = ("id", "thread_id", "graph", "request", "requester", "channel", "ts")
        return cls(
            **{k: row[k] for k in plain},
            created_at=row["created_at"],
            summary=row["summary"] or "",
            signoff=_signoff(row["signoff"]),
            stage=int(row["stage"] or 0),
            payload_json=row["payload"],
        )


@lru_cache(maxsize=256)
def _signoff(text: str | None) -> SignOff | None:
    """Requests of one graph share their sign-off, so one parse serves them all (a ``SignOff``
    is frozen: sharing it is safe)."""
    return SignOff.from_dict(json.loads(text)) if text else None


@dataclass(frozen=True)
class Run:
    thread_id: str
    graph: str
    request: str
    requester: str
    channel: str
    approvals_channel: str
    status: RunStatus
    result: str | None
    created_at: float
    updated_at: float
    trace_id: str | None = None  # its latest invocation's trace (bot.agents.traces)
    # Started by an API token in the requester's name: the token, and the Slack user holding it.
    on_behalf_of: str | None = None
    hand: str | None = None
    # A Retry set it going and it was not run again yet (Engine.advance): whoever moves it
    # next runs it again, once, though its runner still shows the failure retried.
    rerun: bool = False

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Run:
        values = {k: row[k] for k in cls.__dataclass_fields__ if k != "rerun"}
        return cls(**values, rerun=bool(row.get("rerun")))


@dataclass(frozen=True)
class Job:
    """A reminder, escalation, expiry or card refresh that falls due at ``due_at``."""

    id: str
    approval_id: str
    kind: str
    level: int
    round: int
    detail: dict[str, Any]
    due_at: float
    status: JobStatus
    attempts: int
    done_at: float | None = None
    # Until when the process that claimed it holds it (its lease); None: nobody holds it.
    locked_until: float | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Job:
        values = {k: row[k] for k in cls.__dataclass_fields__ if k != "detail"}
        detail = row["detail"]  # most jobs have none: a tick reads a thousand at once
        return cls(detail=json.loads(detail) if detail != "{}" else {}, **values)


@dataclass(frozen=True)
class EffectDone:
    """An effect that succeeded, its "done" not yet written (bot.core.ledger): the caller writes
    it in the statement that records what came of it (with the ledger's audit events of it:
    ``attempt`` above 1, a success after retries)."""

    key: str
    result: str
    attempt: int = 1


@dataclass(frozen=True)
class FailureNotice:
    """What a failed run owes its requester: the notice of its failure, under its ledger
    ``key``. Kept on the run from the statement that fails it until it is said, so a crash in
    between (or Slack refusing it for now) leaves it to the recovery sweep."""

    key: str
    decided: bool  # a decision was recorded, and applying it failed
    attempts: int  # how many times applying it failed
    # The error it tells of ("" where none was kept: the run's result is told instead). The
    # notice keeps its own, since a later failure of the run, owing none, rewrites the result.
    problem: str = ""

    def to_json(self) -> str:
        data: dict[str, object] = {"key": self.key, "decided": self.decided}
        data["attempts"] = self.attempts
        if self.problem:
            data["problem"] = self.problem
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> FailureNotice:
        data = json.loads(text)
        problem = str(data.get("problem") or "")
        return cls(str(data["key"]), bool(data["decided"]), int(data["attempts"]), problem)


@dataclass(frozen=True)
class InboxEntry:
    """A click or submission as it arrived, recorded before Slack was acknowledged."""

    id: str
    approval_id: str
    decision: Decision
    channel: str | None
    received_at: float
    attempts: int
    locked_until: float | None = None  # this taker's lease
    # A Retry click (its ``approval_id`` is ''): the run it retries, as ``decision.by``.
    thread_id: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> InboxEntry:
        return cls(
            id=row["id"],
            approval_id=row["approval_id"],
            decision=Decision.from_json(row["decision"]),
            channel=row["channel"],
            received_at=row["received_at"],
            attempts=row["attempts"],
            locked_until=row.get("locked_until"),
            thread_id=row.get("thread_id"),
        )
