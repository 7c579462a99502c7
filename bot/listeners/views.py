"""Modal submissions: bad input gets inline errors; good input closes the modal and decides."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt import Ack, App

from bot.blocks import modals
from bot.deps import Deps
from bot.engine import already_decided
from bot.listeners.parse import BadPayload, Submission, parse_submission
from bot.models import Approval, Decision


def register(app: App, deps: Deps) -> None:
    def submitted(ack: Ack, body: dict[str, Any], block: str) -> tuple[Submission, Approval] | None:
        """The submission and its request, or None after telling the user why not (inline)."""
        try:
            submission = parse_submission(body)
        except BadPayload as problem:
            ack(response_action="errors", errors={block: str(problem)})
            return None
        approval = deps.store.get_approval(submission.approval_id)
        if approval is None:
            ack(response_action="errors", errors={block: "This request no longer exists."})
            return None
        if not approval.pending:
            ack(response_action="errors", errors={block: _plain(already_decided(approval))})
            return None
        return submission, approval

    def decide(ack: Ack, approval: Approval, decision: Decision) -> None:
        ack()
        deps.worker.submit(deps.engine.decide, approval.id, decision, approval.channel)

    @app.view(modals.EDIT_DRAFT)
    def edit_draft(ack: Ack, body: dict[str, Any]) -> None:
        found = submitted(ack, body, modals.DRAFT_BLOCK)
        if found is None:
            return
        submission, approval = found
        text = (submission.values.get(modals.DRAFT_BLOCK) or "").strip()
        if not text:
            ack(
                response_action="errors", errors={modals.DRAFT_BLOCK: "The message can't be empty."}
            )
            return
        decide(ack, approval, Decision("edit", submission.user, text=text))

    @app.view(modals.EDIT_ACTION)
    def edit_action(ack: Ack, body: dict[str, Any]) -> None:
        found = submitted(ack, body, _first_param_block(body))
        if found is None:
            return
        submission, approval = found
        spec = deps.actions.get(str(approval.payload.get("action_type")))
        if spec is None:
            ack(response_action="errors", errors={_first_param_block(body): "Unknown action."})
            return
        params = {
            p.name: (submission.values.get(modals.PARAM_PREFIX + p.name) or "").strip()
            for p in spec.params
        }
        errors = deps.actions.validate(spec.name, params)
        if errors:
            ack(response_action="errors", errors=modals.field_errors(errors))
            return
        decide(ack, approval, Decision("edit", submission.user, parameters=params))

    @app.view(modals.REJECT)
    def reject(ack: Ack, body: dict[str, Any]) -> None:
        found = submitted(ack, body, modals.REASON_BLOCK)
        if found is None:
            return
        submission, approval = found
        reason = (submission.values.get(modals.REASON_BLOCK) or "").strip() or None
        decide(ack, approval, Decision("reject", submission.user, reason=reason))


def _first_param_block(body: dict[str, Any]) -> str:
    values = (body.get("view") or {}).get("state", {}).get("values") or {}
    return next(iter(values), modals.PARAM_PREFIX + "value")


def _plain(text: str) -> str:
    # Inline errors are plain text: drop the mrkdwn date token's markup, keep its fallback.
    return re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text).replace("*", "")
