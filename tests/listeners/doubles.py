"""Stand-ins for what a listener is given: Bolt's ``ack`` and ``respond``, the Slack client, and
the engine, store and subcommands behind it. Every call lands in one ``log``, in order, so a test
can say "recorded, then acked" or "acked, then told"."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.core import outcomes
from bot.core.deciders import Refusal, Why
from bot.domain.models import Approval, Decision, Run, RunRequest
from bot.domain.review import Choice, FormField, Proposal, Review
from bot.domain.signoff import Stage
from bot.slack.listeners.binding import modal_key, seal
from bot.slack.listeners.context import ListenerDeps
from bot.store.db import OutcomeUnknown

APPROVER = "UAPPROVER"
REQUESTER = "UREQUESTER"
STRANGER = "USTRANGER"
CARD_CHANNEL = "CCARDS"
APPROVAL_ID = "0123456789abcdef"
RUN_ID = "feedface" * 4
REFUSED = f"Only <@{APPROVER}> can decide this request."  # what the refusal below reads as


class Down(RuntimeError):
    """The database did not answer."""


@dataclass
class Call:
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


class Log(list[Call]):
    def names(self) -> list[str]:
        return [c.name for c in self]

    def of(self, name: str) -> list[Call]:
        return [c for c in self if c.name == name]


class Recording:
    """``ack`` or ``respond``: called with keywords, like Bolt's."""

    def __init__(self, name: str, log: Log, fails: bool = False) -> None:
        self.name, self.log, self.fails = name, log, fails

    def __call__(self, **kwargs: Any) -> None:
        self.log.append(Call(self.name, (), kwargs))
        if self.fails:
            raise OSError("the response_url did not answer")

    @property
    def calls(self) -> list[dict[str, Any]]:
        return [c.kwargs for c in self.log.of(self.name)]


class FakeClient:
    """The Slack calls a listener makes (bot.slack.listeners.context.SlackNotes)."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.views_fail = False  # as when a trigger_id has expired
        self.respond_fails = False  # as when a response_url does not answer
        self.responded_to: list[str] = []

    def tell(self, channel: str, user: str, text: str) -> None:
        self.log.append(Call("tell", (channel, user, text)))

    def tell_or_dm(self, channel: str, user: str, text: str) -> None:
        self.tell(channel, user, text)  # the DM it may fall back to is the real client's

    def open_view(self, trigger_id: str, view: dict[str, Any]) -> None:
        self.log.append(Call("open_view", (trigger_id, view)))
        if self.views_fail:
            raise SlackApiError("expired", {"ok": False, "error": "expired_trigger_id"})

    def publish_home(self, user: str, view: dict[str, Any]) -> None:
        self.log.append(Call("publish_home", (user, view)))

    def respond(self, response_url: str, text: str) -> None:
        """A slash command's answer on its response_url, recorded as Bolt's ``respond``."""
        self.log.append(Call("respond", (), {"text": text, "response_type": "ephemeral"}))
        self.responded_to.append(response_url)
        if self.respond_fails:
            raise OSError("the response_url did not answer")

    @property
    def told(self) -> list[tuple[str, str, str]]:
        return [c.args for c in self.log.of("tell")]

    @property
    def views(self) -> list[dict[str, Any]]:
        return [c.args[1] for c in self.log.of("open_view")]


class FakeStore:
    def __init__(self, log: Log) -> None:
        self.log = log
        self.approvals: dict[str, Approval] = {}
        self.runs: list[Run] = []
        self.down = False

    def get_approval(self, approval_id: str, quick: bool = False) -> Approval | None:
        self.log.append(Call("get_approval", (approval_id,), {"quick": quick}))
        if self.down:
            raise Down()
        return self.approvals.get(approval_id)

    def runs_of(self, requester: str) -> list[Run]:
        return [r for r in self.runs if r.requester == requester]

    def latest_card(self, thread_id: str) -> Approval | None:
        return next((a for a in self.approvals.values() if a.thread_id == thread_id), None)


class FakeEngine:
    """Records and prechecks as the real engine's seam does; only ``APPROVER`` may decide."""

    def __init__(self, log: Log, store: FakeStore) -> None:
        self.log, self.store = log, store
        self.down = False
        self.unknown = False  # the write's answer was lost, and it could not be withdrawn
        self.votes_down = False  # the read of a request's votes fails
        self.standing_reads: list[tuple[str, bool]] = []  # (request, quick) of each read
        self.standing: Decision | None = None
        self.tally = SimpleNamespace(
            standing_edit=self._standing_edit,
            signoffs=SimpleNamespace(anyone_listed=(APPROVER, "SGROUP")),
        )

    def _standing_edit(self, approval: Approval, quick: bool = False) -> Decision | None:
        self.standing_reads.append((approval.id, quick))
        if self.votes_down:
            raise Down()
        return self.standing

    def receive(self, approval_id: str, decision: Decision, channel: str | None) -> str:
        self.log.append(Call("receive", (approval_id, decision, channel)))
        self._fail()
        return "receipt"

    def receive_retry(self, thread_id: str, by: str, channel: str | None) -> str:
        self.log.append(Call("receive_retry", (thread_id, by, channel)))
        self._fail()
        return "receipt"

    def precheck(
        self, approval_id: str, user: str, origin: str | None, shows: bool, version: int
    ) -> tuple[Approval | None, outcomes.Outcome | None]:
        self.log.append(Call("precheck", (approval_id, user, origin, shows, version)))
        if self.down:
            raise Down()
        approval = self.store.approvals.get(approval_id)
        if approval is None:
            return None, outcomes.NotFound()
        if user == APPROVER:
            return approval, None
        stage = Stage(approvers=(APPROVER,))
        return approval, outcomes.Refused(
            approval, Refusal(Why.NOT_LISTED, stage, approval.requester)
        )

    def start(self, request: RunRequest) -> Run:
        self.log.append(Call("start", (request,)))
        self._fail()
        return run(request.requester)

    @property
    def received(self) -> list[tuple[str, Decision, str | None]]:
        return [c.args for c in self.log.of("receive")]

    def _fail(self) -> None:
        if self.down:
            raise Down()
        if self.unknown:
            raise OutcomeUnknown("the connection was lost after a write")


class FakeOperations:
    def __init__(self, log: Log, store: FakeStore) -> None:
        self.log, self.store = log, store
        self.down = False
        self.access = SimpleNamespace(
            pending=lambda user: list(store.approvals.values()),
            may_see_request=lambda approval, user: user in (APPROVER, approval.requester),
        )

    def _answer(self, name: str, *args: str) -> str:
        self.log.append(Call(name, args))
        if self.down:
            raise Down()
        return f"{name} for {args[-1]}"

    def pending(self, user: str) -> str:
        return self._answer("pending", user)

    def status(self, text: str, user: str) -> str:
        return self._answer("status", text, user)

    def cancel(self, text: str, user: str) -> str:
        return self._answer("cancel", text, user)

    def audit_of(self, text: str, user: str) -> str:
        return self._answer("audit", text, user)


@dataclass
class World:
    """One listener's surroundings; ``deps`` is what the registration would bind."""

    log: Log
    ack: Recording
    respond: Recording
    client: FakeClient
    store: FakeStore
    engine: FakeEngine
    operations: FakeOperations
    deps: ListenerDeps

    def add(self, approval: Approval) -> Approval:
        self.store.approvals[approval.id] = approval
        return approval

    def seal(self, user: str = APPROVER, version: int = 1, name: str = "") -> str:
        return seal(self.deps.modal_key, APPROVAL_ID, version, user, name)


def world(approvals_channel: str | None = None) -> World:
    log = Log()
    client, store = FakeClient(log), FakeStore(log)
    engine, operations = FakeEngine(log, store), FakeOperations(log, store)
    deps = ListenerDeps(
        slack=client,
        engine=engine,  # type: ignore[arg-type]
        tally=engine.tally,  # type: ignore[arg-type]
        access=operations.access,  # type: ignore[arg-type]
        store=store,  # type: ignore[arg-type]
        operations=operations,  # type: ignore[arg-type]
        modal_key=modal_key("xoxb-test", "secret"),
        descriptions={"draft": "Drafts a message", "action": "Takes an action"},
        default_graph="draft",
        approvals_channel=approvals_channel,
    )
    return World(
        log,
        Recording("ack", log),
        Recording("respond", log),
        client,
        store,
        engine,
        operations,
        deps,
    )


def run(requester: str = REQUESTER) -> Run:
    return Run(RUN_ID, "draft", "a note", requester, "CTYPED", CARD_CHANNEL, "running", None, 0, 0)


def draft_review(**changes: Any) -> Review:
    text = FormField("text", "Draft", kind="multiline", initial="Hello all")
    proposal = Proposal("Draft", choices=("approve", "edit", "reject"), form=(text,))
    return replace(Review("draft", "Draft", (proposal,)), **changes)


def batch_review() -> Review:
    to = FormField("to", "To", kind="email")
    proposals = (
        Proposal("send_email", choices=("approve", "edit", "reject"), form=(to,)),
        Proposal("post_message", choices=("approve", "respond", "reject")),
    )
    return Review("hitl", "Two calls", proposals)


def with_choices(*extra: Choice) -> Review:
    return draft_review(extra=extra)


def approval(**changes: Any) -> Approval:
    base = Approval(
        id=APPROVAL_ID,
        thread_id=RUN_ID,
        interrupt_id="i1",
        graph="draft",
        request="a note",
        requester=REQUESTER,
        payload={},
        channel=CARD_CHANNEL,
        ts="1700000000.000100",
        status="pending",
        created_at=1_700_000_000.0,
        review=draft_review(),
    )
    return replace(base, **changes)


def click(value: str = APPROVAL_ID, user: str | None = APPROVER, **extra: Any) -> dict[str, Any]:
    """An interactive payload for a card's button, as Slack sends it."""
    body: dict[str, Any] = {
        "type": "block_actions",
        "actions": [{"action_id": "approval.approve", "value": value}],
        "channel": {"id": "CCLICKED"},
        "trigger_id": "trigger-1",
        "container": {"type": "message", "channel_id": "CCLICKED", "message_ts": "1.2"},
        **extra,
    }
    if user is not None:
        body["user"] = {"id": user}
    return body


def submission(
    metadata: str, values: dict[str, str | None], user: str = APPROVER
) -> dict[str, Any]:
    """A view_submission payload: each value under a block of that name."""
    state = {
        block: {"value": {"type": "plain_text_input", "value": v}} for block, v in values.items()
    }
    return {
        "type": "view_submission",
        "user": {"id": user},
        "view": {"private_metadata": metadata, "state": {"values": state}},
    }
