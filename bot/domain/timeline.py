"""When an unanswered request is reminded about, escalated and expired.

The environment sets the defaults (``REMIND_AFTER``, ``ESCALATE_AFTER``, ``ESCALATE_TO``,
``ESCALATION_CHANNEL``, ``EXPIRE_AFTER``); an optional YAML policy file (``POLICY_FILE``,
read by :mod:`bot.policy`) overrides them per graph and per action::

    defaults:
      expire_after: 24h
    graphs:
      draft: {remind_after: 30m}
    actions:
      send_email:
        expire_after: 4h
        expire_as: reject          # or approve
        escalation:                # ordered levels; `after` counts from when the card was posted
          - {after: 1h, to: [S0ONCALL], channel: C0ESCALATE, repeat: 2, every: 15m}
          - {after: 3h, to: [U0CTO]}

Everything here is pure: policies in, planned jobs out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.config import Settings
from bot.domain.shapes import governed_by

ExpireAs = Literal["reject", "approve"]


@dataclass(frozen=True)
class Level:
    after: int
    to: tuple[str, ...]
    channel: str | None = None
    repeat: int = 0
    every: int | None = None


@dataclass(frozen=True)
class Policy:
    remind_after: int | None
    expire_after: int | None
    expire_as: ExpireAs = "reject"
    levels: tuple[Level, ...] = ()


@dataclass(frozen=True)
class PlannedJob:
    kind: Literal["remind", "escalate", "expire", "refresh"]
    due_at: float
    level: int = 0
    round: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


def plan(policy: Policy, start: float) -> list[PlannedJob]:
    """Every job a request will need if nobody answers it, in due order."""
    jobs: list[PlannedJob] = []
    if policy.remind_after is not None:
        jobs.append(PlannedJob("remind", start + policy.remind_after))
    for index, level in enumerate(policy.levels):
        for n in range(level.repeat + 1):
            due = start + level.after + n * (level.every or level.after)
            detail = {"to": list(level.to), "channel": level.channel, "levels": len(policy.levels)}
            jobs.append(PlannedJob("escalate", due, index, n, detail))
    if policy.expire_after is not None:
        deadline = start + policy.expire_after
        jobs = [j for j in jobs if j.due_at < deadline]
        detail = {"as": policy.expire_as, "after": policy.expire_after}
        jobs.append(PlannedJob("expire", deadline, detail=detail))
    return sorted(jobs, key=lambda j: j.due_at)


class Policies:
    def __init__(
        self,
        default: Policy,
        graphs: Mapping[str, Policy] | None = None,
        actions: Mapping[str, Policy] | None = None,
    ) -> None:
        self.default = default
        self.graphs = dict(graphs or {})
        self.actions = dict(actions or {})

    def for_request(self, graph: str, payload: Any) -> Policy:
        """The policy of each call the request covers (its action's, else the graph's, else
        the default); a request covering several calls takes the safest of them."""
        graph_policy = self.graphs.get(graph, self.default)
        policies: list[Policy] = []
        for action in governed_by(payload) or [""]:
            policy = self.actions.get(action, graph_policy)
            if policy not in policies:
                policies.append(policy)
        return policies[0] if len(policies) == 1 else safest(policies)


def safest(policies: list[Policy]) -> Policy:
    """One policy for a request several policies govern: the earliest reminder and expiry,
    every escalation level, and never approved on expiry if any of them says reject."""

    def earliest(values: list[int | None]) -> int | None:
        known = [v for v in values if v is not None]
        return min(known) if known else None

    expire_as: ExpireAs = "approve" if all(p.expire_as == "approve" for p in policies) else "reject"
    levels: list[Level] = []
    for policy in policies:
        levels.extend(level for level in policy.levels if level not in levels)
    return Policy(
        remind_after=earliest([p.remind_after for p in policies]),
        expire_after=earliest([p.expire_after for p in policies]),
        expire_as=expire_as,
        levels=tuple(sorted(levels, key=lambda level: level.after)),
    )


def env_policy(settings: Settings) -> Policy:
    levels: tuple[Level, ...] = ()
    if settings.escalate_after is not None and (
        settings.escalate_to or settings.escalation_channel
    ):
        levels = (
            Level(settings.escalate_after, settings.escalate_to, settings.escalation_channel),
        )
    return Policy(settings.remind_after, settings.expire_after, "reject", levels)
