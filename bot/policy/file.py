"""The policy file, read once and checked in full: the one loader of the bot and of ``try``.

``python -m bot`` (:mod:`bot.wiring`) and ``python -m bot try`` (:mod:`bot.cli.try_graph`) both call
:func:`load_checked`, so ``try`` refuses exactly what the bot refuses. In order:

1. the YAML, its sections and keys (:func:`bot.core.timeline.read_policy_file`,
   :mod:`bot.policy.shape`), and the graphs' settings (:mod:`bot.agents.graph_settings`);
2. the graphs are built with those settings (the caller's ``build_registry``), and the names the
   file uses are checked against what they have (:mod:`bot.policy.names`);
3. the sign-offs, reminders and expiry (:mod:`bot.core.signoff`, :mod:`bot.core.timeline`), over the
   environment's defaults.

Any mistake is a :class:`~bot.config.ConfigError` naming ``POLICY_FILE``, the file and the key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.agents.graph_settings import GraphSettings, settings_from
from bot.agents.registry import RegisteredGraph, known_names
from bot.config import Settings, approver_defaults
from bot.core.signoff import SignOffs, Stage, signoffs_from
from bot.core.timeline import Policies, Policy, env_policy, policies_from, read_policy_file
from bot.policy.names import check_names

logger = logging.getLogger(__name__)

Registry = dict[str, RegisteredGraph]


@dataclass(frozen=True)
class Defaults:
    """What the environment puts beneath the file: ``APPROVERS``, ``ALLOW_SELF_APPROVAL`` (a
    quorum's reachability is judged with them) and the reminder and expiry durations."""

    approvers: tuple[str, ...] = ()
    allow_self: bool = False
    timeline: Policy = field(default_factory=lambda: Policy(None, None))

    @classmethod
    def of(cls, settings: Settings) -> Defaults:
        return cls(settings.approvers, settings.allow_self_approval, env_policy(settings))

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Defaults:
        """For ``try``, which has no Slack settings but must judge sign-offs as the bot does."""
        approvers, allow_self = approver_defaults(env)
        return cls(approvers, allow_self)


@dataclass(frozen=True)
class PolicyFile:
    path: str | None
    data: Mapping[str, Any]
    graph_settings: dict[str, GraphSettings]
    signoffs: SignOffs
    policies: Policies


def load_checked(
    path: str | None,
    defaults: Defaults,
    build_registry: Callable[[dict[str, GraphSettings]], Registry],
) -> tuple[PolicyFile, Registry]:
    """The policy file and the registry built with its settings, once every key, value and name
    in the file is one the bot knows."""
    data = read_policy_file(path)
    graph_settings = settings_from(data, path)
    registry = build_registry(graph_settings)
    # Names before values: for `actions: {send_emial: {quorum: 2}}` the typo is the news, not
    # the approvers list the quorum lacks.
    for what in check_names(data, path, known_names(registry)):
        logger.warning("POLICY_FILE: %s: not checked: %s", path, what)
    base = Stage(approvers=defaults.approvers, allow_self=defaults.allow_self)
    signoffs = signoffs_from(data, path, base)
    policies = policies_from(data, path, defaults.timeline)
    return PolicyFile(path, data, graph_settings, signoffs, policies), registry
