"""The policy file, read once and checked in full: the one loader of the bot and of ``try``.

``python -m bot`` (:mod:`bot.wiring`) and ``python -m bot try`` (:mod:`bot.cli.try_graph`) both call
:func:`load_checked`, so ``try`` refuses exactly what the bot refuses. In order:

1. the YAML is read once and validated as one model, every section, key and value
   (:func:`read_policy`, :mod:`bot.policy.model`), and the graphs' settings are made from it;
2. the graphs are built with those settings (the caller's ``build_registry``), and the names the
   file uses are checked against what they have (:mod:`bot.policy.names`);
3. the sign-offs, reminders and expiry (:mod:`bot.policy.derive`), over the environment's
   defaults, and the remembered approvals they allow (:mod:`bot.policy.remembering`), handed
   to the core as plain values.

Any mistake is a :class:`~bot.config.ConfigError` naming ``POLICY_FILE``, the file and the key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.agents.graph_settings import GraphSettings
from bot.agents.registry import RegisteredGraph, known_names
from bot.config import ConfigError, Settings, approver_defaults
from bot.core.remember import Remembering
from bot.domain.signoff import SignOffs, Stage
from bot.domain.timeline import Policies, Policy, env_policy
from bot.policy.derive import policies_from, settings_from, signoffs_from
from bot.policy.model import PolicyModel
from bot.policy.names import check_names
from bot.policy.remembering import remembering_from, unoffered
from bot.policy.shape import validate

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
    model: PolicyModel
    graph_settings: dict[str, GraphSettings]
    signoffs: SignOffs
    policies: Policies
    remembering: Remembering = field(default_factory=Remembering)


def load_checked(
    path: str | None,
    defaults: Defaults,
    build_registry: Callable[[dict[str, GraphSettings]], Registry],
) -> tuple[PolicyFile, Registry]:
    """The policy file and the registry built with its settings, once every key, value and name
    in the file is one the bot knows."""
    model = read_policy(path)
    graph_settings = settings_from(model)
    registry = build_registry(graph_settings)
    # Names before values: for `actions: {send_emial: {quorum: 2}}` the typo is the news, not
    # the approvers list the quorum lacks.
    for what in check_names(model, path, known_names(registry)):
        logger.warning("POLICY_FILE: %s: not checked: %s", path, what)
    base = Stage(approvers=defaults.approvers, allow_self=defaults.allow_self)
    signoffs = signoffs_from(model, path, base)
    policies = policies_from(model, defaults.timeline)
    remembering = remembering_from(model, path, signoffs)
    for what in unoffered(model, signoffs):
        logger.warning("POLICY_FILE: %s: %s", path, what)
    return PolicyFile(path, model, graph_settings, signoffs, policies, remembering), registry


def read_policy(path_text: str | None) -> PolicyModel:
    """The file, read once and validated (no file: the environment's rules alone)."""
    if not path_text:
        return PolicyModel()
    path = Path(path_text)
    try:
        data = parse(path.read_text()) or {}
    except OSError as exc:
        raise ConfigError(f"POLICY_FILE: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"POLICY_FILE: {path} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"POLICY_FILE: {path} must hold a mapping")
    return validate(data, path_text)


def parse(text: str) -> Any:
    """YAML, loaded safely, a key written twice in one mapping refused."""
    return yaml.load(text, Loader=_UniqueKeys)  # noqa: S506 - a SafeLoader


class _UniqueKeys(yaml.SafeLoader):
    """YAML's safe loader, refusing a key written twice in one mapping: the last one would
    silently win (a second ``send_email:`` section dropping the first one's approvers)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[object] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"{key!s} appears twice in one mapping", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)
