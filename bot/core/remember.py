"""Remembered approvals, as the policy file allows them: which requests offer "Approve, and
don't ask again for …", for how long, and what a rule made from one covers. Pure: the file's
sections in (read by :mod:`bot.policy.remembering`), offers and scopes out::

    graphs:
      draft:
        remember: 8h            # one duration, or a list of the ones offered
    actions:
      send_email:
        remember: [1h, 8h]
        remember_match: [to]    # the rule covers only calls with these same argument values

A rule covers the same graph, the same tool or action, the same requester and the channel their
runs start in, and (``remember_match``) the same values of the named arguments. Only a request a
single person decides (no quorum, stages or ``distinct``) and with one call on its card is
offered one; start-up refuses ``remember`` where the sign-off needs more than one person.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from bot.domain.review import Review
from bot.domain.shapes import actions_named, arguments, governed_by
from bot.domain.signoff import SignOff


@dataclass(frozen=True)
class Remember:
    """One section's ``remember`` (seconds, shortest first) and ``remember_match``."""

    durations: tuple[int, ...]
    match: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scope:
    """What a rule covers. ``match``: the remembered arguments' values, as canonical JSON;
    ``step``: for a pause that names no action, the node that paused (a graph may ask about
    reading the logs, then about deleting the database: a rule made on one is not the other)."""

    graph: str
    action: str
    requester: str
    channel: str
    match: str
    step: str = ""

    def as_params(self) -> dict[str, str]:
        return {
            "graph": self.graph,
            "action": self.action,
            "step": self.step,
            "requester": self.requester,
            "channel": self.channel,
            "match": self.match,
        }


@dataclass
class Remembering:
    """The file's ``remember`` keys. An action with a section of its own (``sectioned``) is
    governed by that section alone, as its sign-off is (:class:`bot.domain.signoff.SignOffs`)."""

    graphs: dict[str, Remember] = field(default_factory=dict)
    actions: dict[str, Remember] = field(default_factory=dict)
    sectioned: frozenset[str] = frozenset()

    @property
    def anywhere(self) -> bool:
        return bool(self.graphs or self.actions)

    def for_request(self, graph: str, value: Any) -> Remember | None:
        """The ``remember`` of the one call a request covers; None for several calls."""
        names = governed_by(value)
        if len(names) > 1:
            return None
        action = names[0] if names else ""
        remember = self.actions.get(action) if action in self.sectioned else self.graphs.get(graph)
        if remember is not None and not set(remember.match) <= set(arguments(value)):
            return None  # an argument ``remember_match`` names is missing: nothing to match on
        return remember


def offered(remember: Remember | None, sign_off: SignOff, review: Review | None) -> tuple[int, ...]:
    """The durations a request's card offers: none unless one person's Approve settles it and
    the card shows one call."""
    if remember is None or review is None or len(review.proposals) != 1:
        return ()
    if review.shape == "breakpoint":
        # A static breakpoint shows the run's state, whatever it holds (the tool calls the node
        # after it runs): a rule scoped by its step would approve any of them later.
        return ()
    if sign_off.counted or sign_off.distinct or sign_off.joint or len(sign_off.stages) != 1:
        return ()
    if "approve" not in review.proposals[0].choices:
        return ()
    return remember.durations


def scope_of(
    graph: str, value: Any, requester: str, channel: str, remember: Remember, node: str = ""
) -> Scope:
    """What a rule made on (or matched against) a request with this pause value covers;
    ``node``: the node that paused, the step a pause naming no action is scoped by."""
    names = actions_named(value)
    args = arguments(value)
    picked = {name: args.get(name) for name in remember.match}
    match = json.dumps(picked, sort_keys=True, separators=(",", ":"), default=str)
    if names:
        return Scope(graph, names[0], requester, channel, match)
    return Scope(graph, "", requester, channel, match, step=node or "?")
