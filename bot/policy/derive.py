"""What the bot uses, made from the validated file: sign-offs, timelines and graph settings.

Each reader takes the :class:`~bot.policy.model.PolicyModel` (read and checked once, by
:mod:`bot.policy.file`) and hands the core plain values: :class:`~bot.domain.signoff.SignOffs`,
:class:`~bot.domain.timeline.Policies` and, per graph,
:class:`~bot.agents.graph_settings.GraphSettings`.

A key written in a section wins; a key left out inherits (``graphs.<name>`` and
``actions.<name>`` from ``defaults``, ``defaults`` from the environment), except that an action's
section that writes nothing of who signs is signed as its request's graph (:data:`SIGNS`). The one
check left for here is the one the file alone cannot answer: whether a quorum can be reached
with the approvers it inherits, ``APPROVERS`` among them.
"""

from __future__ import annotations

from dataclasses import replace

from bot.agents.graph_settings import GraphSettings
from bot.config import ConfigError
from bot.core.routing import Route
from bot.domain import signoff
from bot.domain.review import Choice
from bot.domain.signoff import SignOffs, Stage, unreachable
from bot.domain.timeline import Level, Policies, Policy
from bot.policy.model import GraphSection, PolicyModel, Section, StageEntry


# graph settings ----------------------------------------------------------------------------
def settings_from(model: PolicyModel) -> dict[str, GraphSettings]:
    """Settings by graph name, from ``graphs.<name>``."""
    return {name: _settings(section) for name, section in model.graphs.items()}


def _settings(section: GraphSection) -> GraphSettings:
    buttons = tuple(
        Choice(name, spec.label or name.replace("_", " ").capitalize()[:75], spec.asks, spec.rounds)
        for name, spec in section.buttons.items()
    )
    return GraphSettings(
        description=section.description,
        input=section.input,
        output=section.output,
        breakpoints=section.breakpoints,
        ask_twice=section.ask_twice,
        edit=section.edit,
        resume=dict(section.resume),
        update=dict(section.update),
        buttons=buttons,
    )


# sign-offs ---------------------------------------------------------------------------------
def signoffs_from(model: PolicyModel, path: str | None, base: Stage) -> SignOffs:
    """The file's sign-offs over ``base``, the environment's (``APPROVERS``,
    ``ALLOW_SELF_APPROVAL``). An action's section inherits from ``defaults``, as a graph's does;
    one that writes none of :data:`SIGNS` is signed as its request's graph."""
    default = _section(model.defaults, signoff.Section(base), f"{path}: defaults")
    graphs = {
        name: _section(body, default, f"{path}: graphs.{name}")
        for name, body in model.graphs.items()
    }
    actions = {
        name: replace(_section(body, default, f"{path}: actions.{name}"), signs=body.sets(*SIGNS))
        for name, body in model.actions.items()
    }
    return SignOffs(default, graphs, actions)


# The keys that say who signs. An action's section that writes none of them (only reminders,
# expiry, where cards go, remember) is signed as its graph's: the graph's section wins over the
# defaults' (an action's section over its graph's only for what it writes).
SIGNS = ("approvers", "allow_self_approval", "quorum", "rejections", "stages", "distinct")


def _section(body: Section, inherited: signoff.Section, where: str) -> signoff.Section:
    base = _stage(body, replace(inherited.base, name=""), where)
    distinct = body.distinct if body.distinct is not None else inherited.distinct
    # Only what this section writes: the rest is looked up at each request (stage, action,
    # graph, defaults: bot.core.routing), so an action's section falls back to its graph's.
    route = Route(body.channel, body.deliver or ())
    if body.stages is None:
        # A section that sets its own approvers or quorum does not inherit the default's stages.
        own = body.sets("approvers", "quorum", "rejections")
        if own and inherited.stages and not body.sets("approvers"):
            # It would sign with the inherited base's people alone (perhaps nobody: then only
            # the requester), in place of every inherited stage: say so rather than weaken it.
            names = ", ".join(s.name or f"stage {n}" for n, s in enumerate(inherited.stages, 1))
            raise ConfigError(
                f"POLICY_FILE: {where}: sets quorum or rejections but not approvers, which would"
                f" replace the stages it inherits ({names}) with one stage of the defaults'"
                " approvers: set approvers (or stages) here too"
            )
        return signoff.Section(base, () if own else inherited.stages, distinct, route)
    stages = []
    for index, entry in enumerate(body.stages):
        stage = _stage(entry, base, f"{where}.stages[{index}]")
        if entry.name is not None:
            stage = replace(stage, name=entry.name)
        if entry.at is not None:
            stage = replace(stage, at=entry.at)
        stage = replace(stage, channel=entry.channel, deliver=entry.deliver or ())
        stages.append(stage)
    return signoff.Section(base, tuple(stages), distinct, route)


def _stage(body: Section | StageEntry, base: Stage, where: str) -> Stage:
    stage = base
    if body.approvers is not None:
        stage = replace(stage, approvers=body.approvers)
    if body.allow_self_approval is not None:
        stage = replace(stage, allow_self=body.allow_self_approval)
    if body.quorum is not None:
        stage = replace(stage, quorum=body.quorum)
    if body.rejections is not None:
        stage = replace(stage, rejections=body.rejections)
    why = unreachable(stage)
    if why:
        raise ConfigError(f"POLICY_FILE: {where}: {why}")
    return stage


# reminders, escalation, expiry ------------------------------------------------------------
def policies_from(model: PolicyModel, default: Policy) -> Policies:
    """The file's reminder, escalation and expiry policies over the environment's."""
    default = _policy(model.defaults, default)
    graphs = {name: _policy(body, default) for name, body in model.graphs.items()}
    actions = {name: _policy(body, default) for name, body in model.actions.items()}
    return Policies(default, graphs, actions)


def _policy(body: Section, base: Policy) -> Policy:
    policy = base
    # `remind_after: off` is written and means none, so presence, not the value, decides.
    if body.sets("remind_after"):
        policy = replace(policy, remind_after=body.remind_after)
    if body.sets("expire_after"):
        policy = replace(policy, expire_after=body.expire_after)
    if body.expire_as is not None:
        policy = replace(policy, expire_as=body.expire_as)
    if body.escalation is not None:
        levels = tuple(
            Level(level.after or 0, level.to, level.channel, level.repeat, level.every)
            for level in body.escalation
        )
        policy = replace(policy, levels=levels)
    return policy
