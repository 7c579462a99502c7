"""When an unanswered request is reminded about, escalated and expired.

The environment sets the defaults (``REMIND_AFTER``, ``ESCALATE_AFTER``, ``ESCALATE_TO``,
``ESCALATION_CHANNEL``, ``EXPIRE_AFTER``); an optional YAML policy file (``POLICY_FILE``)
overrides them per graph and per action::

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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import yaml

from bot.config import SLACK_ID, ConfigError, Settings
from bot.core.durations import parse_duration
from bot.policy.shape import check_shape

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

    def for_request(self, graph: str, payload: Mapping[str, Any]) -> Policy:
        """The policy of each call the request covers (its action's, else the graph's, else
        the default); a request covering several calls takes the safest of them."""
        graph_policy = self.graphs.get(graph, self.default)
        policies: list[Policy] = []
        for action in actions_named(payload) or [""]:
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


def actions_named(payload: Mapping[str, Any]) -> list[str]:
    if payload.get("kind") == "action":
        names = [payload.get("action_type")]
    elif payload.get("type") == "tool_approval":  # HITL middleware, per_call
        names = [payload.get("name")]
    else:  # HITL middleware, batched
        requests = payload.get("action_requests")
        names = (
            [r.get("name") for r in requests if isinstance(r, Mapping)]
            if isinstance(requests, list)
            else []
        )
    return [n for n in names if isinstance(n, str)]


def env_policy(settings: Settings) -> Policy:
    levels: tuple[Level, ...] = ()
    if settings.escalate_after is not None and (
        settings.escalate_to or settings.escalation_channel
    ):
        levels = (
            Level(settings.escalate_after, settings.escalate_to, settings.escalation_channel),
        )
    return Policy(settings.remind_after, settings.expire_after, "reject", levels)


def read_policy_file(path_text: str | None) -> dict[str, Any]:
    """The policy file as a mapping (empty when there is none); errors name POLICY_FILE.

    Its sections and keys are checked here, so that no reader can meet a misspelt key and take
    the default instead (:mod:`bot.policy.shape`)."""
    if not path_text:
        return {}
    path = Path(path_text)
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"POLICY_FILE: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"POLICY_FILE: {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"POLICY_FILE: {path} must hold a mapping")
    check_shape(data, path_text)
    return data


def load_policies(settings: Settings) -> Policies:
    path = settings.policy_file
    return policies_from(read_policy_file(path), path, env_policy(settings))


def policies_from(data: Mapping[str, Any], path: str | None, default: Policy) -> Policies:
    """The file's policies (as :func:`read_policy_file` read it) over the environment's."""
    if not data:
        return Policies(default)
    default = _policy(data.get("defaults") or {}, default, f"{path}: defaults")
    sections = {}
    for section in ("graphs", "actions"):
        entries = data.get(section) or {}
        if not isinstance(entries, dict):
            raise ConfigError(f"POLICY_FILE: {path}: {section} must be a mapping")
        sections[section] = {
            str(name): _policy(body or {}, default, f"{path}: {section}.{name}")
            for name, body in entries.items()
        }
    return Policies(default, sections["graphs"], sections["actions"])


def _policy(body: Any, base: Policy, where: str) -> Policy:
    if not isinstance(body, dict):
        raise ConfigError(f"POLICY_FILE: {where} must be a mapping")
    policy = base
    for key in ("remind_after", "expire_after"):
        if key in body:
            policy = replace(policy, **{key: _duration(body[key], f"{where}.{key}")})
    if "expire_as" in body:
        if body["expire_as"] not in ("reject", "approve"):
            raise ConfigError(f"POLICY_FILE: {where}.expire_as must be reject or approve")
        policy = replace(policy, expire_as=body["expire_as"])
    if "escalation" in body:
        levels = body["escalation"] or []
        if not isinstance(levels, list):
            raise ConfigError(f"POLICY_FILE: {where}.escalation must be a list of levels")
        policy = replace(
            policy,
            levels=tuple(_level(lv, f"{where}.escalation[{i}]") for i, lv in enumerate(levels)),
        )
    return policy


def _level(body: Any, where: str) -> Level:
    if not isinstance(body, dict) or "after" not in body:
        raise ConfigError(f"POLICY_FILE: {where} needs at least `after`")
    to = body.get("to") or []
    if isinstance(to, str):
        to = [t.strip() for t in to.split(",") if t.strip()]
    if not isinstance(to, list):
        raise ConfigError(f"POLICY_FILE: {where}.to must be a list of user or user-group ids")
    # A name that is no id would mention nobody: the escalation would reach no one, silently.
    bad = [str(t) for t in to if not SLACK_ID.match(str(t))]
    if bad:
        raise ConfigError(
            f"POLICY_FILE: {where}.to: {', '.join(bad)} is not a user id (U…) or user-group id (S…)"
        )
    repeat = body.get("repeat", 0)
    if not isinstance(repeat, int) or repeat < 0:
        raise ConfigError(f"POLICY_FILE: {where}.repeat must be a whole number")
    every = body.get("every")
    return Level(
        after=_duration(body["after"], f"{where}.after") or 0,
        to=tuple(str(t) for t in to),
        channel=str(body["channel"]) if body.get("channel") else None,
        repeat=repeat,
        every=_duration(every, f"{where}.every") if every is not None else None,
    )


def _duration(value: Any, where: str) -> int | None:
    if value is None or str(value).lower() in ("off", "never"):
        return None
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise ConfigError(f"POLICY_FILE: {where}: {exc}") from None
