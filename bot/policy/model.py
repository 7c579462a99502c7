"""The policy file (``POLICY_FILE``) as one pydantic model: every section, key and value.

:class:`PolicyModel` is the whole file: ``defaults`` and ``actions.<name>`` are :class:`Section`,
``graphs.<name>`` a :class:`GraphSection` (a section plus how the bot talks to that graph), with
:class:`StageEntry`, :class:`LevelEntry` and :class:`ButtonEntry` beneath them. Every model forbids
keys it does not declare (``extra="forbid"``): a misspelt ``quorom`` is refused, never read as
"no quorum". Values are checked by the validators here, each failing with the words the user
sees; :mod:`bot.policy.shape` turns pydantic's errors into one line naming the file, the dotted
key and, for an unknown key, the closest known one.

Whether a key was written matters (``remind_after: off`` overrides, a key left out inherits), so
unset keys are ``None`` and a key written empty where that means nothing is refused; the readers
in :mod:`bot.policy.derive` look at ``model_fields_set`` where null is a value (durations).

What only the registered graphs can confirm (action, tool and node names) is not checked here but
once they are built (:mod:`bot.policy.names`); nor is whether a quorum can be reached, which
depends on ``APPROVERS`` (:func:`bot.domain.signoff.unreachable`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from bot.domain.review import STANDARD_CHOICES
from bot.policy.errors import unknown
from bot.policy.values import (
    NOT_NULL,
    Channel,
    Count,
    Deliver,
    Duration,
    Durations,
    ExpireAs,
    Flag,
    Ids,
    Names,
    Timer,
    not_null,
    refuse,
)

ASKS = ("notes", "reason")  # what an extra button may ask the reviewer for
# Decisions a resume or update entry may answer, besides the graph's own buttons: an expiry
# looks for ``expire`` first, a "Review each…" batch is decided as ``each``.
BUILT_IN_BUTTONS = (*STANDARD_CHOICES, "expire", "each")


class Entry(BaseModel):
    """A mapping in the file: frozen, and no key it does not declare."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    WHAT: ClassVar[str] = "key"  # how an unknown key of it is called: "unknown stage key"

    @classmethod
    def known(cls) -> tuple[str, ...]:
        return tuple(cls.model_fields)


# sections ----------------------------------------------------------------------------------
class StageEntry(Entry):
    """``stages[i]``: one stage of a sign-off."""

    WHAT: ClassVar[str] = "stage key"

    name: str | None = None
    approvers: Ids | None = None
    allow_self_approval: Flag | None = None
    quorum: Count | None = None
    rejections: Count | None = None
    at: str | None = None
    channel: Channel | None = None  # this stage's cards go here (bot.core.routing)
    deliver: Deliver | None = None

    _null = field_validator(
        "approvers",
        "allow_self_approval",
        "quorum",
        "rejections",
        "channel",
        "deliver",
        mode="before",
    )(not_null)

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, body: Any) -> Any:
        if not isinstance(body, Mapping):
            raise refuse(" must be a mapping")
        body = dict(body)
        if "name" in body:
            body["name"] = str(body["name"])[:60]
        if "at" in body:
            body["at"] = str(body["at"])
        return body


class LevelEntry(Entry):
    """``escalation[i]``: one level of escalation; ``after`` counts from the card's posting."""

    WHAT: ClassVar[str] = "escalation key"

    after: Duration
    to: Ids = ()
    channel: Channel | None = None
    repeat: int = 0
    every: Duration = None

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, body: Any) -> Any:
        if not isinstance(body, Mapping) or "after" not in body:
            raise refuse(" needs at least `after`")
        body = dict(body)
        body["to"] = body.get("to") or []
        if not body.get("channel"):
            body["channel"] = None
        return body

    @field_validator("repeat", mode="before")
    @classmethod
    def _repeat(cls, value: Any) -> Any:
        if not isinstance(value, int) or value < 0:
            raise refuse(" must be a whole number")
        return value


class Section(Entry):
    """``defaults`` or ``actions.<name>``: who signs (stages, quorum) and when it is reminded
    about, escalated and expired. A key left out of ``graphs.<name>`` or ``actions.<name>`` takes
    ``defaults``' value, and one left out of ``defaults`` the environment's."""

    # who must sign, how many and in which order (bot.domain.signoff)
    approvers: Ids | None = None
    allow_self_approval: Flag | None = None
    quorum: Count | None = None
    rejections: Count | None = None
    stages: tuple[StageEntry, ...] | None = None
    distinct: Flag | None = None
    # reminders, escalation and expiry (bot.domain.timeline)
    remind_after: Timer = None
    expire_after: Timer = None
    expire_as: ExpireAs | None = None
    escalation: tuple[LevelEntry, ...] | None = None
    # remembered approvals (bot.core.remember): in graphs.<name> and actions.<name> only
    remember: Durations | None = None
    remember_match: Names | None = None
    # where its cards go (bot.core.routing)
    channel: Channel | None = None
    deliver: Deliver | None = None

    _null = field_validator(*NOT_NULL, mode="before")(not_null)

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, body: Any) -> Any:
        if body is None:  # `send_email:` with nothing under it yet
            return {}
        if not isinstance(body, Mapping):
            raise refuse(": must be a mapping of keys to values", shape=True)
        return body

    @field_validator("stages", mode="before")
    @classmethod
    def _stages(cls, value: Any) -> Any:
        if not isinstance(value, list) or not value:
            raise refuse(" must be a list of stages")
        return value

    @field_validator("escalation", mode="before")
    @classmethod
    def _escalation(cls, value: Any) -> Any:
        value = value or []
        if not isinstance(value, list):
            raise refuse(" must be a list of levels")
        return value

    @model_validator(mode="after")
    def _routing(self) -> Section:
        routed = [s.at for s in self.stages or () if s.at]
        if routed and len(routed) != len(self.stages or ()):
            raise refuse(".stages: give every stage an `at`, or none")
        if len(set(routed)) != len(routed):
            raise refuse(".stages: two stages are `at` the same node")
        if self.remember_match is not None and self.remember is None:
            raise refuse(".remember_match: needs remember (how long an approval is remembered)")
        return self

    def sets(self, *keys: str) -> bool:
        """Whether the file writes any of these keys here (rather than inheriting them)."""
        return any(key in self.model_fields_set for key in keys)


class ButtonEntry(Entry):
    """``graphs.<name>.buttons.<button>``: an extra button on that graph's cards."""

    WHAT: ClassVar[str] = "button key"

    label: str | None = None
    asks: tuple[Literal["notes", "reason"], ...] = ()
    rounds: int | None = None  # not offered once the run is in this round

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, spec: Any) -> Any:
        if spec is None:
            return {}
        if not isinstance(spec, Mapping):
            raise refuse(" must be a mapping", split=2)
        spec = dict(spec)
        spec["label"] = str(spec["label"])[:75] if spec.get("label") else None
        return spec

    @field_validator("asks", mode="before")
    @classmethod
    def _asks(cls, value: Any) -> Any:
        asks = value or []
        asks = [asks] if isinstance(asks, str) else asks
        if not isinstance(asks, list | tuple) or any(a not in ASKS for a in asks):
            raise refuse(f" may hold {', '.join(ASKS)}", split=3)
        return asks

    @field_validator("rounds", mode="before")
    @classmethod
    def _rounds(cls, value: Any) -> Any:
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise refuse(" must be a whole number", split=3)
        if value is not None and value < 2:
            raise refuse(" must be 2 or more (round 1 is the first card)", split=3)
        return value


class GraphSection(Section):
    """``graphs.<name>``: a section, and how the bot talks to a graph it did not write
    (documented in :mod:`bot.agents.graph_settings`)."""

    description: str | None = None
    input: str | None = None
    output: str | None = None
    edit: str | None = None
    breakpoints: Literal["ask", "skip"] = "ask"
    ask_twice: bool = False
    resume: dict[str, Any] = {}
    update: dict[str, dict[str, Any] | None] = {}
    buttons: dict[str, ButtonEntry] = {}

    @field_validator("description", "input", "output", "edit", mode="before")
    @classmethod
    def _text(cls, value: Any, info: ValidationInfo) -> Any:
        if not isinstance(value, str):
            raise refuse(" must be a string", split=1)
        if info.field_name == "edit":
            _check_edit_path(value)
        return value

    @field_validator("breakpoints", mode="before")
    @classmethod
    def _breakpoints(cls, value: Any) -> Any:
        if value not in ("ask", "skip"):
            raise refuse(" must be ask or skip", split=1)
        return value

    @field_validator("ask_twice", mode="before")
    @classmethod
    def _ask_twice(cls, value: Any) -> Any:
        if not isinstance(value, bool):
            raise refuse(" must be true or false", split=1)
        return value

    @field_validator("resume", "update", mode="before")
    @classmethod
    def _by_button(cls, value: Any, info: ValidationInfo) -> Any:
        value = value or {}
        if not isinstance(value, Mapping):
            raise refuse(" must map button names to values", split=1)
        if info.field_name == "update" and any(
            not isinstance(v, Mapping | None) for v in value.values()
        ):
            raise refuse(": each update must be a mapping of state keys to values", up=1)
        return {str(name): v for name, v in value.items()}

    @field_validator("buttons", mode="before")
    @classmethod
    def _buttons(cls, value: Any) -> Any:
        value = value or {}
        if not isinstance(value, Mapping):
            raise refuse(" must map button names to a label and asks", split=1)
        return {str(name): spec for name, spec in value.items()}

    @model_validator(mode="after")
    def _button_names(self) -> GraphSection:
        # A resume/update entry for a button that does not exist is never used: `aprove` would
        # leave Approve sending the default answer, which this graph does not understand.
        known = (*BUILT_IN_BUTTONS, *self.buttons)
        for key, mapping in (("resume", self.resume), ("update", self.update)):
            for name in mapping:
                if name not in known:
                    raise refuse(f": {unknown(str(name), known, 'button')}", more=(key, name))
        for name in self.buttons:
            text = ""
            if name in BUILT_IN_BUTTONS:
                text = f": {name} is a built-in button; map it in resume or update"
            elif name not in self.resume and name not in self.update:
                text = " needs a resume or update entry saying what it does"
            if text:  # "graphs.orders: buttons.revise needs …"
                raise refuse(text, more=("buttons", name), split=2)
        return self


def _check_edit_path(path: str) -> None:
    """What start-up can know of an ``edit`` path: that it names a key at every step. Whether
    the interrupt's value has those keys is only known when it pauses; then a path that names
    nothing gets no Edit button and a loud note, never the whole value (bot.agents.adapters)."""
    if not path.strip():
        raise refuse(": names nothing: leave edit out to edit the whole value")
    if any(not part or part != part.strip() for part in path.split(".")):
        raise refuse(
            f": {path!r} names nothing (an empty or blank key between dots); write a dotted path "
            "of keys in the interrupt's value, such as proposed_action.parameters"
        )


class PolicyModel(Entry):
    """The whole file. An empty or absent file is ``PolicyModel()``: the environment's rules."""

    WHAT: ClassVar[str] = "section"

    defaults: Section = Section()
    graphs: dict[str, GraphSection] = {}
    actions: dict[str, Section] = {}

    @field_validator("defaults", mode="before")
    @classmethod
    def _defaults(cls, value: Any) -> Any:
        return {} if value is None else value

    @model_validator(mode="after")
    def _remember_where(self) -> PolicyModel:
        # One rule for every graph and action would approve calls nobody ever looked at.
        for key in ("remember", "remember_match"):
            if self.defaults.sets(key):
                raise refuse(
                    ": belongs under graphs.<name> or actions.<name> (a remembered approval "
                    "covers one graph or action, never everything)",
                    more=("defaults", key),
                )
        return self

    @field_validator("graphs", "actions", mode="before")
    @classmethod
    def _by_name(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            kind = "graph" if info.field_name == "graphs" else "action"
            raise refuse(f": must map each {kind} name to its section", shape=True)
        return {str(name): body for name, body in value.items()}


def model_at(loc: tuple[Any, ...]) -> type[Entry]:
    """The model a mapping at this place in the file is read with (for "unknown stage key")."""
    if not loc:
        return PolicyModel
    rest = loc[1:] if loc[0] == "defaults" else loc[2:]
    inner: dict[str, type[Entry]] = {
        "stages": StageEntry,
        "escalation": LevelEntry,
        "buttons": ButtonEntry,
    }
    if rest and rest[0] in inner:
        return inner[rest[0]]
    return GraphSection if loc[0] == "graphs" else Section
