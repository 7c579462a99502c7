"""Where a request's cards go: a channel, each decider's direct messages, or both.

The policy file writes ``channel:`` and ``deliver:`` in ``defaults``, ``graphs.<name>``,
``actions.<name>`` and each stage. The most specific wins, key by key::

    stage  >  actions.<name>  >  graphs.<name>  >  defaults  >  APPROVALS_CHANNEL  >
    the channel /agent was typed in

A request's stages carry what applies to them (:func:`routed`, when its sign-off is made), so
a request keeps the route it was asked with; the run's own channel is the last resort, known
only when its cards are posted (:func:`destination`). ``deliver`` is ``channel`` (the default),
``dm`` (a copy to each person who may decide, as a direct message from the app) or both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:  # signoff imports this module
    from bot.core.signoff import SignOff, Stage

Delivery = Literal["channel", "dm"]
DELIVERIES: tuple[Delivery, ...] = ("channel", "dm")


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
class Destination:
    """Where one stage's cards go: ``channel`` (None: no channel copy) and whether each
    person who may decide gets a copy in their direct messages."""

    channel: str | None
    dm: bool

    @property
    def routed(self) -> bool:
        return self.dm or self.channel is not None


def destination(stage: Stage, run_channel: str) -> Destination:
    """Where ``stage``'s cards go; ``run_channel``: the run's (APPROVALS_CHANNEL, else where
    /agent was typed), for a stage that names none."""
    deliver = stage.deliver or ("channel",)
    channel = (stage.channel or run_channel) if "channel" in deliver else None
    return Destination(channel, "dm" in deliver)


def dm_people(stage: Stage, requester: str, members: frozenset[str] | None) -> list[str]:
    """Who gets a direct-message copy: everyone who may decide ``stage`` (its approvers
    resolved to people, less the requester unless self approval is allowed; with no approvers,
    the requester alone). ``members``: the approvers resolved (None: a group could not be)."""
    if not stage.approvers:
        return [requester]
    people = sorted(members or ())
    return [p for p in people if p != requester or stage.allow_self]
