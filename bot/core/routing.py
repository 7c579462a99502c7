"""Where a request's cards go: a channel, each decider's direct messages, or both.

The policy file writes ``channel:`` and ``deliver:`` in ``defaults``, ``graphs.<name>``,
``actions.<name>`` and each stage. The most specific wins, key by key::

    stage  >  actions.<name>  >  graphs.<name>  >  defaults  >  APPROVALS_CHANNEL  >
    the channel /agent was typed in

A request's stages carry what applies to them (:func:`~bot.domain.signoff.routed`, when its
sign-off is made, kept with the request's sign-off), so
a request keeps the route it was asked with; the run's own channel is the last resort, known
only when its cards are posted (:func:`destination`). ``deliver`` is ``channel`` (the default),
``dm`` (a copy to each person who may decide, as a direct message from the app) or both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.domain.signoff import Route, Stage, routed

__all__ = ["DELIVERIES", "Destination", "Route", "destination", "dm_people", "routed"]

Delivery = Literal["channel", "dm"]
DELIVERIES: tuple[Delivery, ...] = ("channel", "dm")


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
