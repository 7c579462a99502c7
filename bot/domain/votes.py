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
    items: list[dict[str, Any]], standing: Decision, changed: Sequence[Mapping[str, Any] | None]
) -> list[dict[str, Any]] | None:
    """A batch reviewed call by call on a request an edit (``standing``) stands on, ``changed``
    holding that edit's values per call (None: as proposed), as what it signs. An approval of a
    call the edit changed approves the call as the card showed it -- the edit's values, not the
    agent's. What is then the standing version itself (each call decided as the card shows it)
    signs it: all approvals, as all approvals sign a version that runs every call. Anything
    else but all rejections is a new version the others must sign. None: every call approved
    where the standing version does not run them all (:func:`not_run`) -- approving it would
    sign what it does not run, and no new version comes of approvals alone."""
    kinds = {str(item.get("type")) for item in items}
    if kinds <= {"reject"} or (kinds <= {"approve"} and not not_run(standing)):
        return items
    shown = [
        {**item, "type": "edit", "values": dict(values)}
        if item.get("type") == "approve" and (values := _at(changed, index)) is not None
        else item
        for index, item in enumerate(items)
    ]
    theirs = standing.items
    if theirs is not None and len(theirs) == len(shown) and all(map(_same, shown, theirs)):
        return [{"type": "approve", "message": None} for _ in items]
    if {str(item.get("type")) for item in shown} <= {"approve"}:
        return None
    return shown


def not_run(standing: Decision) -> list[int]:
    """The calls an edit of a batch does not run: it rejects them, or answers in the tool's
    place."""
    return [
        index
        for index, item in enumerate(standing.items or ())
        if str(item.get("type")) not in ("approve", "edit")
    ]


def _same(mine: Mapping[str, Any], theirs: Mapping[str, Any]) -> bool:
    """Whether a call is decided as the version that stands decides it (a rejection with no
    message of its own agrees with that version's)."""
    kind = str(mine.get("type"))
    if kind != str(theirs.get("type")):
        return False
    if kind == "edit":
        return dict(mine.get("values") or {}) == dict(theirs.get("values") or {})
    if kind == "reject" and not mine.get("message"):
        return True
    return mine.get("message") == theirs.get("message")


def _at(changed: Sequence[Mapping[str, Any] | None], index: int) -> Mapping[str, Any] | None:
    return changed[index] if index < len(changed) else None
