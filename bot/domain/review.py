"""What a reviewer is asked, as plain data: adapters describe it, ``blocks/`` renders it.

A :class:`Review` is built once, when an interrupt (or a static breakpoint) is first seen, and
stored with the approval request, so the card and its modals never need the graph again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

FieldKind = Literal[
    "text", "multiline", "number", "integer", "boolean", "enum", "json", "email", "url", "channel"
]
# What a reviewer may do with one proposal. ``answer`` fills a form that *is* the resume value
# (a ``response_schema`` interrupt); other names come from a graph's settings (e.g. ``revise``).
STANDARD_CHOICES = ("approve", "edit", "respond", "reject", "ignore", "answer")
# How much of a review's full text "View full text" shows whatever the characters (escaping for
# Slack can make one of them eight: bot.slack.blocks.modals.full_text_modal holds this much).
# A batch whose full text is longer cannot be read in full anywhere, so it is not approved as a
# whole: each call is decided ("Review each").
FULL_TEXT_LIMIT = 16_000
# What an edit that stands changed, per proposal (None: that proposal as proposed):
# bot.domain.models.Approval.edited_values.
Edits = Sequence[Mapping[str, Any] | None]


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: FieldKind = "text"
    required: bool = True
    initial: Any = None
    options: tuple[str, ...] = ()
    hint: str = ""


@dataclass(frozen=True)
class Proposal:
    """One thing to decide: a tool call, a draft, a paused node."""

    title: str
    description: str = ""
    details: tuple[tuple[str, str], ...] = ()
    choices: tuple[str, ...] = ("approve", "reject")
    form: tuple[FormField, ...] = ()
    risk: str | None = None

    def initial_values(self) -> dict[str, Any]:
        """What Edit starts from, by input name: the form's initial values (the details shown
        when there is no form), so an edit's before and after compare key by key."""
        if self.form:
            return {f.name: f.initial for f in self.form}
        return dict(self.details)

    def as_edited(self, edited: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters as an edit leaves them: the form's fields as submitted (one emptied
        is gone, as from the call: bot.agents.forms.edited_args), the rest as proposed."""
        fields = {f.name for f in self.form}
        kept = {k: v for k, v in self.details if k not in fields}
        return {**kept, **edited}


@dataclass(frozen=True)
class Choice:
    """A button a graph's settings add (e.g. "Request changes"), with the inputs it asks for."""

    name: str
    label: str
    asks: tuple[str, ...] = ()  # "notes", "reason"
    rounds: int | None = None  # offered while a run is in an earlier round than this


@dataclass(frozen=True)
class Review:
    shape: str
    title: str
    proposals: tuple[Proposal, ...]
    extra: tuple[Choice, ...] = ()
    summary: str = ""
    long_text: str | None = None  # the full text behind "View full text", when there is one
    # "Approve, and don't ask again for …": the seconds offered (the policy's ``remember``,
    # fixed when the request is recorded, bot.core.remember); empty: not offered.
    remember: tuple[int, ...] = ()

    def choices(self) -> tuple[str, ...]:
        """Choices every proposal allows (what a whole-card button may do)."""
        if not self.proposals:
            return ()
        common = [c for c in self.proposals[0].choices]
        for proposal in self.proposals[1:]:
            common = [c for c in common if c in proposal.choices]
        return tuple(common)

    def approvable_at_once(self, edits: Edits | None = None) -> bool:
        """Whether one Approve may answer every proposal ("Approve all", "Approve as edited"):
        only when all of them can be read in full (a batch's full text is every call with all
        its arguments) -- as proposed, and as ``edits`` leave them: the version that stands,
        the one an Approve signs (an edited batch can be longer than the one proposed)."""
        if len(self.proposals) <= 1:
            return True
        if len(self.long_text or "") > FULL_TEXT_LIMIT:
            return False
        edited = any(edit is not None for edit in edits or ())
        return not edited or len(self.calls_text(edits)) <= FULL_TEXT_LIMIT

    def calls_text(self, edits: Edits | None = None) -> str:
        """Every proposal's parameters in full, as proposed or as ``edits`` leave them."""
        several = len(self.proposals) > 1
        calls = []
        for index, proposal in enumerate(self.proposals):
            edited = edits[index] if edits and index < len(edits) else None
            values = proposal.as_edited(edited) if edited is not None else dict(proposal.details)
            lines = "\n\n".join(f"{k}:\n{_value_text(v)}" for k, v in values.items())
            number = f"{index + 1}. " if several else ""
            calls.append(f"{number}{proposal.title}\n\n{lines or '(no arguments)'}")
        return "\n\n\n".join(calls)

    def in_round(self, number: int) -> Review:
        """The review as offered in round ``number`` of a run: a button whose rounds are used
        up (say "Request changes" after three rounds) is no longer offered."""
        extra = tuple(c for c in self.extra if c.rounds is None or number < c.rounds)
        return self if extra == self.extra else replace(self, extra=extra)

    def with_values(self, values: list[dict[str, Any] | None]) -> Review:
        """The review with its forms filled in with ``values`` (per proposal, None: as
        proposed), so a form opened on an edited request starts from what the card shows."""
        proposals = tuple(
            # A field the edit's values leave out was emptied by it (the call runs without
            # it): empty here too, not what the agent proposed.
            replace(
                proposal, form=tuple(replace(f, initial=shown.get(f.name)) for f in proposal.form)
            )
            if (shown := values[index] if index < len(values) else None) is not None
            else proposal
            for index, proposal in enumerate(self.proposals)
        )
        return replace(self, proposals=proposals)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Review:
        proposals = tuple(
            Proposal(
                title=p["title"],
                description=p.get("description", ""),
                details=tuple((str(k), str(v)) for k, v in p.get("details", ())),
                choices=tuple(p.get("choices", ())),
                form=tuple(
                    FormField(**{**f, "options": tuple(f.get("options", ()))})
                    for f in p.get("form", ())
                ),
                risk=p.get("risk"),
            )
            for p in data.get("proposals", ())
        )
        extra = tuple(
            Choice(c["name"], c["label"], tuple(c.get("asks", ())), c.get("rounds"))
            for c in data.get("extra", ())
        )
        return cls(
            shape=data.get("shape", "plain"),
            title=data.get("title", "Approval needed"),
            proposals=proposals,
            extra=extra,
            summary=data.get("summary", ""),
            long_text=data.get("long_text"),
            remember=tuple(int(s) for s in data.get("remember", ())),
        )


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


@dataclass(frozen=True)
class ItemDecision:
    """A reviewer's answer to one proposal of a batch."""

    type: str
    values: dict[str, Any] | None = None
    message: str | None = None


@dataclass(frozen=True)
class Resume:
    """Answer the interrupt: ``Command(resume={interrupt_id: value})``."""

    value: Any


@dataclass(frozen=True)
class Update:
    """Write ``values`` with ``update_state`` (unless None), then continue the run."""

    values: dict[str, Any] | None
    as_node: str | None = None


@dataclass(frozen=True)
class Stop:
    """End the run here: nothing after the pause is executed."""

    report: str


Answer = Resume | Update | Stop


@dataclass(frozen=True)
class Pending:
    """What a run waits on, as the engine hands it to the adapters."""

    id: str
    value: Any
    node: str = ""
    response_schema: dict[str, Any] | None = None
    breakpoint: Literal["before", "after"] | None = None
    state: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def recorded(cls, interrupt_id: str, payload: Mapping[str, Any]) -> Pending:
        """The pause as its request recorded it (``Approval.payload``)."""
        return cls(
            id=interrupt_id,
            value=payload.get("value"),
            node=str(payload.get("node") or ""),
            response_schema=payload.get("schema"),
            breakpoint=payload.get("breakpoint"),
            state=dict(payload.get("state") or {}),
        )
