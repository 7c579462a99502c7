"""What the HTTP approval API answers: a run, its requests and their decisions as JSON, and
the answer to a decision in the words a click would hear in Slack."""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from bot.core import outcomes
from bot.core.journal import via
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, Decision, Run
from bot.domain.review import Review
from bot.slack.blocks.deciders import who_may
from bot.slack.blocks.outcomes import sentence
from bot.store.audit_log import Event


def run_json(run: Run) -> dict[str, Any]:
    return {
        "run": run.thread_id,
        "short": run.thread_id[:8],
        "graph": run.graph,
        "status": run.status,
        "requester": run.requester,
        "request": run.request,
        "result": run.result,
        "created_at": run.created_at,
    }


def described(
    run: Run, approvals: list[Approval], events: list[Event], tally: SignOffTally
) -> dict[str, Any]:
    """``GET /api/runs/{run}``: the run, what it waits on, what was decided, and its audit."""
    return {
        **run_json(run),
        "pending": [pending_json(a, tally) for a in approvals if a.pending],
        "decided": [decided_json(a) for a in approvals if not a.pending],
        "timeline": [
            {"at": e.at, "event": e.event, "actor": e.actor, "request": e.approval_id}
            | ({"detail": e.detail} if e.detail else {})
            for e in events
        ],
    }


def pending_json(approval: Approval, tally: SignOffTally) -> dict[str, Any]:
    sign_off, stage = tally.stage_of(approval)
    review = approval.review
    proposals = review.proposals if review else ()
    whole = _whole(review, approval, tally.standing_edit(approval))
    return {
        "request": approval.id,
        "kind": review.summary if review else "",
        "title": review.title if review else "",
        "choices": list(proposals[0].choices) if len(proposals) == 1 else whole,
        "fields": [f.name for f in proposals[0].form] if len(proposals) == 1 else [],
        "stage": sign_off.label(approval.stage) or None,
        "version": approval.version,
        "who_may_decide": who_may(stage, approval.requester),
        "created_at": approval.created_at,
    }


def decided_json(approval: Approval) -> dict[str, Any]:
    decision = approval.decision
    return {
        "request": approval.id,
        "status": approval.status,
        "by": approval.decided_by,
        "approvers": (decision.approvers if decision else None) or approval.signers or None,
        "reason": decision.reason if decision else None,
        "via": via(decision) if decision else None,
        "on_behalf_of": decision.on_behalf_of if decision else None,
        "at": approval.decided_at,
    }


def decision_answer(
    approval: Approval, latest: Approval, outcome: outcomes.Outcome
) -> JSONResponse:
    """``POST /api/runs/{run}/decision``: what became of the decision on ``approval`` (as
    ``latest`` now stands)."""
    if outcomes.won(outcome):
        return JSONResponse({"decided": True, "request": approval.id, "status": latest.status})
    # The words a click would hear in Slack (bot.slack.blocks.outcomes).
    note = sentence(outcome) or "Nothing changed."
    if isinstance(outcome, outcomes.AgentRefused):  # still at the pause; decided again
        reopened = outcome.approval  # at a new version: the one to decide on now
        body = {"decided": False, "request": approval.id, "status": "pending", "error": note}
        body |= {"refused": reopened.refused or "", "version": reopened.version}
        return JSONResponse(body, 409)
    if latest.pending and isinstance(outcome, outcomes.VoteRecorded):
        return JSONResponse(
            {"decided": False, "request": approval.id, "status": "pending", "note": note},
            status_code=202,
        )
    return JSONResponse({"decided": False, "request": approval.id, "error": note}, 409)


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _whole(review: Review | None, approval: Approval, edit: Decision | None) -> list[str]:
    """What one decision may do to a whole batch, as its card offers it: approve it (as
    proposed, or the edit that stands, ``edit``) only if that version can be read in full."""
    if review is None:
        return ["approve", "reject"]
    common = review.choices()
    edits = approval.edited_values(edit) if edit is not None else None
    approve = ("approve" in common or edit is not None) and review.approvable_at_once(edits)
    return (["approve"] if approve else []) + (["reject"] if "reject" in common else [])
