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

Everything here is pure: the file's text in, a :class:`SignOff` per request out, and
:func:`tally` to count the votes a request has collected.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from bot.config import SLACK_ID, ConfigError, Settings
from bot.core.timeline import actions_named, read_policy_file

SIGNING = ("approve", "edit")  # votes that count towards a quorum


@dataclass(frozen=True)
class Stage:
    name: str = ""
    approvers: tuple[str, ...] = ()  # empty: only the requester decides (fail closed)
    quorum: int = 1
    rejections: int = 1
    allow_self: bool = False
    at: str | None = None  # the node whose pauses this stage decides


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
            "stages": [s.__dict__ | {"approvers": list(s.approvers)} for s in self.stages],
            "first": self.first,
            "total": self.total,
            "distinct": self.distinct,
            "earlier": [{"stage": s.stage, "by": list(s.by)} for s in self.earlier],
            "round": self.round,
            "previous": self.previous,
            "joint": self.joint,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SignOff:
        stages = tuple(
            Stage(**{**s, "approvers": tuple(s.get("approvers", ()))})
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
        )


@dataclass(frozen=True)
class Section:
    """One section of the file: a stage for requests it does not route, and its stages."""

    base: Stage
    stages: tuple[Stage, ...] = ()
    distinct: bool = False

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
        payload = value if isinstance(value, Mapping) else {}
        graph_section = self.graphs.get(graph, self.default)
        sections: list[tuple[str, Section]] = []
        for action in actions_named(payload) or [""]:
            section = self.actions.get(action, graph_section)
            if all(section is not seen for _, seen in sections):
                sections.append((action, section))
        if len(sections) == 1:
            return sections[0][1].sign_off(node)
        return combine([(name, section.sign_off(node)) for name, section in sections])

    @property
    def anyone_listed(self) -> tuple[str, ...]:
        """Every approver named anywhere (who may retry a failed run, for instance)."""
        ids: list[str] = []
        for section in [self.default, *self.graphs.values(), *self.actions.values()]:
            for stage in (section.base, *section.stages):
                ids.extend(a for a in stage.approvers if a not in ids)
        return tuple(ids)


def combine(parts: list[tuple[str, SignOff]]) -> SignOff:
    """One sign-off that satisfies several: sections of single stages with the same approvers
    merge into one stage (the highest quorum, the fewest rejections, self approval only if
    all allow it); otherwise every section's stages are signed in turn, each named for the
    calls it governs, and one person may sign for several sections (``joint``)."""
    distinct = any(part.distinct for _, part in parts)
    if all(len(part.stages) == 1 for _, part in parts):
        merged: dict[tuple[str, ...], tuple[list[str], Stage]] = {}
        for name, part in parts:
            stage = part.stages[0]
            key = tuple(sorted(stage.approvers))
            if key in merged:
                names, seen = merged[key]
                names.append(name)
                stage = replace(
                    seen,
                    quorum=max(seen.quorum, stage.quorum),
                    rejections=min(seen.rejections, stage.rejections),
                    allow_self=seen.allow_self and stage.allow_self,
                )
                merged[key] = (names, stage)
            else:
                merged[key] = ([name], replace(stage, at=None))
        if len(merged) == 1:
            stage = next(iter(merged.values()))[1]
            return SignOff((stage,), distinct=distinct)
        stages = [
            replace(stage, name=stage.name or ", ".join(n for n in names if n))
            for names, stage in merged.values()
        ]
    else:
        stages = [
            replace(stage, name=stage.name or name, at=None)
            for name, part in parts
            for stage in part.stages
        ]
    return SignOff(tuple(stages), 0, len(stages), distinct, joint=True)


# reading the file ------------------------------------------------------------------------
def load_signoffs(settings: Settings) -> SignOffs:
    base = Stage(approvers=settings.approvers, allow_self=settings.allow_self_approval)
    path = settings.policy_file
    return signoffs_from(read_policy_file(path), path, base)


def signoffs_from(data: Mapping[str, Any], path: str | None, base: Stage) -> SignOffs:
    """The file's sign-offs (as :func:`read_policy_file` read it, keys checked) over ``base``,
    the environment's (``APPROVERS``, ``ALLOW_SELF_APPROVAL``)."""
    default = _section(data.get("defaults") or {}, Section(base), f"{path}: defaults")
    sections: dict[str, dict[str, Section]] = {}
    for name in ("graphs", "actions"):
        entries = data.get(name) or {}
        if not isinstance(entries, Mapping):
            raise ConfigError(f"POLICY_FILE: {path}: {name} must be a mapping")
        sections[name] = {
            str(key): _section(body or {}, default, f"{path}: {name}.{key}")
            for key, body in entries.items()
        }
    return SignOffs(default, sections["graphs"], sections["actions"])


def _section(body: Mapping[str, Any], inherited: Section, where: str) -> Section:
    if not isinstance(body, Mapping):
        raise ConfigError(f"POLICY_FILE: {where} must be a mapping")
    base = _stage(body, replace(inherited.base, name=""), where)
    distinct = body.get("distinct", inherited.distinct)
    if not isinstance(distinct, bool):
        raise ConfigError(f"POLICY_FILE: {where}.distinct must be true or false")
    if "stages" not in body:
        return Section(base, () if _own_signoff(body) else inherited.stages, distinct)
    entries = body["stages"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"POLICY_FILE: {where}.stages must be a list of stages")
    stages = []
    for index, entry in enumerate(entries):
        at = f"{where}.stages[{index}]"
        if not isinstance(entry, Mapping):
            raise ConfigError(f"POLICY_FILE: {at} must be a mapping")
        stage = _stage(entry, base, at)
        if "name" in entry:
            stage = replace(stage, name=str(entry["name"])[:60])
        if "at" in entry:
            stage = replace(stage, at=str(entry["at"]))
        stages.append(stage)
    routed = [s.at for s in stages if s.at]
    if routed and len(routed) != len(stages):
        raise ConfigError(f"POLICY_FILE: {where}.stages: give every stage an `at`, or none")
    if len(set(routed)) != len(routed):
        raise ConfigError(f"POLICY_FILE: {where}.stages: two stages are `at` the same node")
    return Section(base, tuple(stages), distinct)


def _own_signoff(body: Mapping[str, Any]) -> bool:
    """A section that sets its own approvers or quorum does not inherit the default's stages."""
    return any(key in body for key in ("approvers", "quorum", "rejections"))


def _stage(body: Mapping[str, Any], base: Stage, where: str) -> Stage:
    stage = base
    if "approvers" in body:
        stage = replace(stage, approvers=_ids(body["approvers"], f"{where}.approvers"))
    if "allow_self_approval" in body:
        if not isinstance(body["allow_self_approval"], bool):
            raise ConfigError(f"POLICY_FILE: {where}.allow_self_approval must be true or false")
        stage = replace(stage, allow_self=body["allow_self_approval"])
    for key in ("quorum", "rejections"):
        if key in body:
            value = body[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(f"POLICY_FILE: {where}.{key} must be a whole number, 1 or more")
            stage = replace(stage, **{key: value})
    _check_reachable(stage, where)
    return stage


def _check_reachable(stage: Stage, where: str) -> None:
    """A quorum that the listed people can never reach is a mistake to report at start-up."""
    needs = max(stage.quorum, stage.rejections)
    if needs == 1:
        return
    if not stage.approvers:
        raise ConfigError(
            f"POLICY_FILE: {where}: a quorum of {needs} needs an approvers list "
            "(or APPROVERS), since without one only the requester decides"
        )
    if all(a.startswith(("U", "W")) for a in stage.approvers) and needs > len(stage.approvers):
        raise ConfigError(
            f"POLICY_FILE: {where}: needs {needs} people but approvers lists {len(stage.approvers)}"
        )


def _ids(value: Any, where: str) -> tuple[str, ...]:
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list):
        raise ConfigError(f"POLICY_FILE: {where} must be a list of user or user-group ids")
    ids = tuple(str(item).strip() for item in items if str(item).strip())
    bad = [i for i in ids if not SLACK_ID.match(i)]
    if bad:
        raise ConfigError(
            f"POLICY_FILE: {where}: {', '.join(bad)} is not a user id (U…) or user-group id (S…)"
        )
    return ids
