"""Votes on a counted request: who voted what at which stage, and what stands of them.

The rules they are counted against (stages, quorum, rejections) are :mod:`bot.domain.signoff`'s;
what each kind of decision counts as is :func:`vote_kind`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.domain.models import Decision
from bot.domain.signoff import SIGNING, Stage


@dataclass(frozen=True)
class Vote:
    voter: str
    stage: int
    vote: str  # approve, edit or reject
    decision: Decision
    void: bool = False  # an approval of a version someone has since edited


@dataclass(frozen=True)
class Tally:
    approvals: tuple[str, ...]
    rejections: tuple[str, ...]
    edit: Decision | None  # the latest edit that still stands

    def met(self, stage: Stage) -> bool:
        return len(self.approvals) >= stage.quorum

    def refused(self, stage: Stage) -> bool:
        return len(self.rejections) >= stage.rejections


def tally(votes: list[Vote], stage: int) -> Tally:
    """The standing votes of one stage, in the order they were cast."""
    standing = [v for v in votes if v.stage == stage and not v.void]
    edits = [v.decision for v in standing if v.vote == "edit"]
    return Tally(
        approvals=tuple(v.voter for v in standing if v.vote in SIGNING),
        rejections=tuple(v.voter for v in standing if v.vote == "reject"),
        edit=edits[-1] if edits else None,
    )


def vote_kind(decision: Decision) -> str | None:
    """What a decision counts as in a counted request, or None when it settles the request at
    once. The rule: whatever lets anything run is an approval of exactly what will run, so it
    is a vote -- ``approve`` when it signs the version on the card, ``edit`` when it changes
    what runs (an edit, an answer, a batch reviewed call by call with anything but approvals
    in it: each of those is a new version the others must sign too). A stop (reject, reject
    all) is a ``reject`` vote, counted against ``rejections``. A reply that runs nothing
    (respond, ignore, a graph's own button such as "Request changes", a batch of nothing but
    rejections and replies) settles the request at once: None."""
    if decision.items is not None:
        kinds = {str(item.get("type")) for item in decision.items}
        if kinds and kinds <= {"approve"}:
            return "approve"
        if kinds and kinds <= {"reject"}:
            return "reject"
        if kinds & {"approve", "edit"}:
            return "edit"
        return None
    if decision.type in ("approve", "edit", "reject"):
        return decision.type
    if decision.type == "answer":
        return "edit"
    return None


def as_shown(
    items: list[dict[str, Any]], changed: Sequence[Mapping[str, Any] | None]
) -> list[dict[str, Any]]:
    """A batch reviewed call by call on a request an edit stands on, ``changed`` holding that
    edit's values per call (None: as proposed). Where the batch makes a new version (anything
    but all approvals or all rejections), an approval of a call the edit changed approves the
    call as the card showed it -- the edit's values, not the agent's -- so the new version
    keeps them. All approvals sign the standing version itself: left as they are."""
    kinds = {str(item.get("type")) for item in items}
    if kinds <= {"approve"} or kinds <= {"reject"}:
        return items
    return [
        {**item, "type": "edit", "values": dict(shown)}
        if item.get("type") == "approve" and (shown := _at(changed, index)) is not None
        else item
        for index, item in enumerate(items)
    ]


def _at(changed: Sequence[Mapping[str, Any] | None], index: int) -> Mapping[str, Any] | None:
    return changed[index] if index < len(changed) else None
