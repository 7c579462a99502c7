"""Who must sign a request, how many of them, and in which order: declared in the policy file,
kept by the bot, so any registered graph gets them without doing the bookkeeping itself.

The keys sit in ``defaults``, ``graphs.<name>`` and ``actions.<name>`` (an action's section wins
over its graph's, which wins over ``defaults``; ``APPROVERS`` and ``ALLOW_SELF_APPROVAL`` are the
defaults' defaults)::

    graphs:
      orders:
        approvers: [S0PHARMACY]     # user ids and user-group ids
        allow_self_approval: false
        distinct: true              # nobody signs two requests of the same run
        stages:                     # `at` routes each pause (its node) to its own stage
          - {name: Pharmacist, at: pharmacist_review}
          - {name: Senior clinician, approvers: [U0SENIOR], at: finalize}
    actions:
      wire_transfer:
        approvers: [S0FINANCE]
        quorum: 2                   # approvals from distinct people before anything resumes
        rejections: 1               # rejections that end the request
        stages:                     # without `at`: one request, signed stage after stage
          - {name: Finance, quorum: 2}
          - {name: CFO, approvers: [U0CFO]}

Everything here is pure: the file's sections in (read by :mod:`bot.policy`), a :class:`SignOff`
per request out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.domain.shapes import governed_by

SIGNING = ("approve", "edit")  # votes that count towards a quorum


@dataclass(frozen=True)
class Stage:
    name: str = ""
    approvers: tuple[str, ...] = ()  # empty: only the requester decides (fail closed)
    quorum: int = 1
    rejections: int = 1
    allow_self: bool = False
    at: str | None = None  # the node whose pauses this stage decides
    # Where its cards go (bot.core.routing): a channel id, and how (("channel",), ("dm",) or
    # both). Unset here: the section's, else the graph's, else the defaults', else the run's.
    channel: str | None = None
    deliver: tuple[str, ...] = ()
    # On a card whose calls several sections govern (a joint sign-off, :func:`combine`): the
    # section this stage is from, numbered on the card, and the stage's place among that
    # section's own stages (``part_first`` of ``part_total``). One person signs one stage of a
    # section, on a joint card as on a card of that section alone. None: not joint (or recorded
    # before parts were).
    part: int | None = None
    part_first: int = 0
    part_total: int = 1


@dataclass(frozen=True)
class Route:
    """What one section of the policy file writes about where cards go; None/() unset."""

    channel: str | None = None
    deliver: tuple[str, ...] = ()


def routed(sign_off: SignOff, routes: Iterable[Route]) -> SignOff:
    """``sign_off`` with each stage's channel and delivery filled from the first of ``routes``
    (most specific first) that writes it, where the stage writes none of its own."""
    routes = tuple(routes)
    channel = next((r.channel for r in routes if r.channel), None)
    deliver = next((r.deliver for r in routes if r.deliver), ())
    stages = tuple(
        replace(stage, channel=stage.channel or channel, deliver=stage.deliver or deliver)
        for stage in sign_off.stages
    )
    return replace(sign_off, stages=stages)


@dataclass(frozen=True)
class Signed:
    """Who signed an earlier stage of the same run."""

    stage: str
    by: tuple[str, ...]


@dataclass(frozen=True)
class SignOff:
    """The sign-off one request needs, fixed when it is recorded."""

    stages: tuple[Stage, ...] = (Stage(),)
    first: int = 0  # the number of stages before ``stages[0]`` in its section
    total: int = 1  # the stages in its section
    distinct: bool = False
    earlier: tuple[Signed, ...] = ()  # earlier stages of the run, signed on other requests
    round: int = 1  # 2 and up: the run came back after someone asked for changes
    previous: str | None = None  # what happened to the previous round, for the card
    # The stages come from several sections (a card covering calls with different policies):
    # each section's people must sign, and one person may sign for several of them.
    joint: bool = False
    # Who holds the API token that started the run in its requester's name, if one did: one
    # hand with the requester, who may not approve the run either.
    asked_by: str | None = None

    @property
    def counted(self) -> bool:
        """Whether clicks are votes (a quorum, stages) rather than each one a decision."""
        return len(self.stages) > 1 or any(s.quorum > 1 or s.rejections > 1 for s in self.stages)

    def label(self, index: int) -> str:
        """ "Stage 2 of 3: Senior clinician", or "" for a request with one unnamed stage."""
        stage = self.stages[index]
        if self.total <= 1:
            return stage.name
        number = f"Stage {self.first + index + 1} of {self.total}"
        return f"{number}: {stage.name}" if stage.name else number

    def what(self, index: int) -> str:
        """How a refusal names what is being decided: "stage 2 of 2 (Senior clinician)"."""
        if self.total <= 1:
            return "this request"
        number = f"stage {self.first + index + 1} of {self.total}"
        name = self.stages[index].name
        return f"{number} ({name})" if name else number

    def to_dict(self) -> dict[str, Any]:
        return {
            "stages": [
                s.__dict__ | {"approvers": list(s.approvers), "deliver": list(s.deliver)}
                for s in self.stages
            ],
            "first": self.first,
            "total": self.total,
            "distinct": self.distinct,
            "earlier": [{"stage": s.stage, "by": list(s.by)} for s in self.earlier],
            "round": self.round,
            "previous": self.previous,
            "joint": self.joint,
            "asked_by": self.asked_by,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignOff:
        stages = tuple(
            Stage(
                **{
                    **s,
                    "approvers": tuple(s.get("approvers", ())),
                    "deliver": tuple(s.get("deliver", ())),
                }
            )
            for s in data.get("stages", ())
        )
        return cls(
            stages=stages or (Stage(),),
            first=int(data.get("first", 0)),
            total=int(data.get("total", 1)),
            distinct=bool(data.get("distinct", False)),
            earlier=tuple(Signed(e["stage"], tuple(e["by"])) for e in data.get("earlier", ())),
            round=int(data.get("round", 1)),
            previous=data.get("previous"),
            joint=bool(data.get("joint", False)),
            asked_by=data.get("asked_by"),
        )


@dataclass(frozen=True)
class Section:
    """One section of the file: a stage for requests it does not route, and its stages."""

    base: Stage
    stages: tuple[Stage, ...] = ()
    distinct: bool = False
    route: Route = Route()  # where its cards go, as written in this section (not inherited)
    # Whether the section says who signs (approvers, quorum, stages…). An action's section that
    # says only when to remind or where cards go leaves the signing to the request's graph.
    signs: bool = True

    def sign_off(self, node: str) -> SignOff:
        if not self.stages:
            return SignOff((self.base,), distinct=self.distinct)
        total = len(self.stages)
        if any(s.at for s in self.stages):
            for index, stage in enumerate(self.stages):
                if stage.at == node:
                    return SignOff((stage,), index, total, self.distinct)
            return SignOff((self.base,), distinct=self.distinct)
        return SignOff(self.stages, 0, total, self.distinct)


@dataclass
class SignOffs:
    default: Section
    graphs: dict[str, Section] = field(default_factory=dict)
    actions: dict[str, Section] = field(default_factory=dict)

    def for_request(self, graph: str, value: Any, node: str = "") -> SignOff:
        """The request's sign-off. Each call a request covers is governed by its action's
        section, else its graph's, else the default; a request covering calls governed by
        different sections needs every one of them (strictest wins, see :func:`combine`)."""
        payload = value
        graph_section = self.graphs.get(graph, self.default)
        sections: list[tuple[str, Section]] = []
        # An action's section that says nothing of who signs: its graph's section signs (one
        # part with the graph's other calls), its cards going where the first such says.
        borrowed: Route | None = None
        for action in governed_by(payload) or [""]:
            section = self.actions.get(action, graph_section)
            if not section.signs:
                if borrowed is None and section.route != Route():
                    borrowed = section.route
                section = graph_section
            if all(section is not seen for _, seen in sections):
                sections.append((action, section))
        # Where cards go: the stage's own, else its action's, its graph's, the defaults'.
        fallback = (graph_section.route, self.default.route)
        parts = [
            (
                name,
                routed(
                    section.sign_off(node),
                    (*_first(section, graph_section, borrowed), section.route, *fallback),
                ),
            )
            for name, section in sections
        ]
        signed = parts[0][1] if len(parts) == 1 else combine(parts)
        # ``distinct`` on a graph is about its runs: nobody signs two of a run's requests,
        # whichever section signs each (one the graph's, one an action's: in either order).
        return replace(signed, distinct=True) if graph_section.distinct else signed

    def carried_over(self, graph: str, node: str, value: Any, signed: Any = None) -> bool:
        """Whether the approval of the breakpoint before ``node`` (a request that carries no
        value: its graph's section) also signs what the node then asks (``value``): only when
        that needs exactly the same sign-off. A call whose action's section names other people,
        or more of them, is asked on a card of its own."""
        return self.for_request(graph, value, node) == self.for_request(graph, signed, node)

    @property
    def anyone_listed(self) -> tuple[str, ...]:
        """Every approver named anywhere (who may retry a failed run, for instance)."""
        ids: list[str] = []
        for section in [self.default, *self.graphs.values(), *self.actions.values()]:
            for stage in (section.base, *section.stages):
                ids.extend(a for a in stage.approvers if a not in ids)
        return tuple(ids)


def _first(section: Section, graph_section: Section, borrowed: Route | None) -> tuple[Route, ...]:
    """The route tried before a part's own: a routing-only action section's, for the part its
    graph's section signs."""
    return (borrowed,) if borrowed is not None and section is graph_section else ()


def combine(parts: list[tuple[str, SignOff]]) -> SignOff:
    """One sign-off that satisfies several: sections of single stages with the same approvers
    merge into one stage (the highest quorum, the fewest rejections, self approval only if
    all allow it); otherwise every section's stages are signed in turn, each named for the
    calls it governs, and one person may sign for several sections (``joint``)."""
    distinct = any(part.distinct for _, part in parts)
    if all(len(part.stages) == 1 for _, part in parts):
        merged: dict[tuple[str, ...], tuple[list[str], Stage]] = {}
        for number, (name, part) in enumerate(parts):
            stage = _from_part(part, 0, number)
            key = tuple(sorted(stage.approvers))
            if key in merged:
                names, seen = merged[key]
                names.append(name)
                staged = seen if seen.part_total > 1 else stage  # a staged section's place wins
                stage = replace(
                    seen,
                    quorum=max(seen.quorum, stage.quorum),
                    rejections=min(seen.rejections, stage.rejections),
                    allow_self=seen.allow_self and stage.allow_self,
                    part=staged.part,
                    part_first=staged.part_first,
                    part_total=staged.part_total,
                )
                merged[key] = (names, stage)
            else:
                merged[key] = ([name], stage)
        if len(merged) == 1:
            # One stage after all: signed as that section's stage, in its place among them.
            stage = next(iter(merged.values()))[1]
            plain = replace(stage, part=None, part_first=0, part_total=1)
            return SignOff((plain,), stage.part_first, stage.part_total, distinct)
        stages = [
            replace(stage, name=stage.name or ", ".join(n for n in names if n))
            for names, stage in merged.values()
        ]
    else:
        stages = [
            replace(_from_part(part, index, number), name=stage.name or name)
            for number, (name, part) in enumerate(parts)
            for index, stage in enumerate(part.stages)
        ]
    return SignOff(tuple(stages), 0, len(stages), distinct, joint=True)


def _from_part(part: SignOff, index: int, number: int) -> Stage:
    """Stage ``index`` of ``part``, the card's section ``number``, as a joint card carries it."""
    stage = part.stages[index]
    return replace(
        stage, at=None, part=number, part_first=part.first + index, part_total=part.total
    )


def unreachable(stage: Stage) -> str | None:
    """Why the listed people can never reach this stage's quorum, if they cannot: a mistake
    the policy file's reader reports at start-up."""
    needs = max(stage.quorum, stage.rejections)
    if needs == 1:
        return None
    if not stage.approvers:
        return (
            f"a quorum of {needs} needs an approvers list "
            "(or APPROVERS), since without one only the requester decides"
        )
    if all(a.startswith(("U", "W")) for a in stage.approvers) and needs > len(stage.approvers):
        return f"needs {needs} people but approvers lists {len(stage.approvers)}"
    return None
