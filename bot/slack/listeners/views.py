"""Modal submissions: bad input gets inline errors; good input closes the modal and decides."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from slack_bolt import Ack, App

from bot.agents import forms
from bot.core.models import Approval, Decision
from bot.core.review import Proposal
from bot.slack.blocks import modals
from bot.slack.blocks.outcomes import CHANGED, already_decided
from bot.slack.listeners.binding import Bound, modal_key, unseal
from bot.slack.listeners.parse import BadPayload, Submission, parse_submission
from bot.wiring import Deps

logger = logging.getLogger(__name__)


def register(app: App, deps: Deps) -> None:
    key = modal_key(deps.settings.slack_bot_token, deps.settings.slack_signing_secret)

    def submitted(
        ack: Ack, body: dict[str, Any], block: str
    ) -> tuple[Submission, Approval, Bound] | None:
        """The submission, its request and what the modal was opened for, or None after
        telling the user why not (inline)."""
        try:
            submission = parse_submission(body)
        except BadPayload as problem:
            ack(response_action="errors", errors={block: str(problem)})
            return None
        bound = unseal(key, submission.approval_id, submission.user)
        if bound is None:
            ack(response_action="errors", errors={block: NOT_BOUND})
            return None
        try:
            approval = deps.store.get_approval(bound.approval_id, quick=True)
        except Exception:
            logger.exception("could not read the request of a submission")
            ack(response_action="update", view=modals.not_recorded_modal())
            return None
        if approval is None:
            ack(response_action="errors", errors={block: "This request no longer exists."})
            return None
        if not approval.pending:
            ack(response_action="errors", errors={block: _plain(already_decided(approval))})
            return None
        if bound.version != approval.version:
            ack(response_action="errors", errors={block: _plain(CHANGED)})
            return None
        return submission, approval, bound

    def decide(ack: Ack, approval: Approval, decision: Decision) -> None:
        """Record the submission before the modal closes; if that fails, say so in it."""
        decision = replace(decision, version=approval.version)
        try:
            deps.engine.receive(approval.id, decision, approval.channel)
        except Exception:
            logger.exception("could not record a %s submission", decision.type)
            ack(response_action="update", view=modals.not_recorded_modal())
            return
        ack()

    def single(approval: Approval) -> Proposal | None:
        review = approval.review
        return review.proposals[0] if review and len(review.proposals) == 1 else None

    def form_submission(ack: Ack, body: dict[str, Any], kind: str) -> None:
        found = submitted(ack, body, _first_block(body))
        if found is None:
            return
        submission, approval, bound = found
        proposal = single(approval)
        if proposal is None or not proposal.form:
            ack(response_action="errors", errors={_first_block(body): "Nothing to fill in."})
            return
        raw = _unprefixed(submission.values, modals.PARAM_PREFIX)
        values, errors = forms.read(proposal.form, raw)
        if errors:
            ack(response_action="errors", errors=modals.field_errors(errors))
            return
        draft = approval.review is not None and approval.review.shape == "draft"
        if kind == "edit" and draft:
            decide(ack, approval, Decision("edit", submission.user, text=values.get("text")))
        else:
            decide(ack, approval, Decision(kind, submission.user, parameters=values))

    @app.view(modals.EDIT)
    def edit(ack: Ack, body: dict[str, Any]) -> None:
        form_submission(ack, body, "edit")

    @app.view(modals.ANSWER)
    def answer(ack: Ack, body: dict[str, Any]) -> None:
        form_submission(ack, body, "answer")

    @app.view(modals.RESPOND)
    def respond(ack: Ack, body: dict[str, Any]) -> None:
        found = submitted(ack, body, modals.MESSAGE_BLOCK)
        if found is None:
            return
        submission, approval, bound = found
        message = (submission.values.get(modals.MESSAGE_BLOCK) or "").strip()
        if not message:
            ack(response_action="errors", errors={modals.MESSAGE_BLOCK: "Write an answer."})
            return
        decide(ack, approval, Decision("respond", submission.user, message=message))

    @app.view(modals.REJECT)
    def reject(ack: Ack, body: dict[str, Any]) -> None:
        found = submitted(ack, body, modals.REASON_BLOCK)
        if found is None:
            return
        submission, approval, bound = found
        reason = (submission.values.get(modals.REASON_BLOCK) or "").strip() or None
        decide(ack, approval, Decision("reject", submission.user, reason=reason))

    @app.view(modals.CHOICE)
    def choice(ack: Ack, body: dict[str, Any]) -> None:
        found = submitted(ack, body, modals.NOTES_BLOCK)
        if found is None:
            return
        submission, approval, bound = found
        name = bound.name
        extra = next(
            (c for c in (approval.review.extra if approval.review else ()) if c.name == name), None
        )
        if extra is None:
            ack(response_action="errors", errors={modals.NOTES_BLOCK: "That choice is gone."})
            return
        notes = (submission.values.get(modals.NOTES_BLOCK) or "").strip()
        reason = (submission.values.get(modals.REASON_BLOCK) or "").strip()
        missing = {
            block: "Please fill this in."
            for ask, block, text in (
                ("notes", modals.NOTES_BLOCK, notes),
                ("reason", modals.REASON_BLOCK, reason),
            )
            if ask in extra.asks and not text
        }
        if missing:
            ack(response_action="errors", errors=missing)
            return
        decision = Decision(name, submission.user, message=notes or None, reason=reason or None)
        decide(ack, approval, decision)

    @app.view(modals.EACH)
    def each(ack: Ack, body: dict[str, Any]) -> None:
        first = modals.DECISION_PREFIX + "0"
        found = submitted(ack, body, first)
        if found is None:
            return
        submission, approval, bound = found
        proposals = approval.review.proposals if approval.review else ()
        items, errors = [], {}
        for index, proposal in enumerate(proposals):
            kind = submission.values.get(f"{modals.DECISION_PREFIX}{index}") or ""
            message = (submission.values.get(f"{modals.MESSAGE_BLOCK}:{index}") or "").strip()
            item: dict[str, Any] = {"type": kind, "message": message or None}
            if kind not in proposal.choices:
                errors[f"{modals.DECISION_PREFIX}{index}"] = "Choose what to do with this call."
            elif kind == "edit":
                prefix = f"{modals.PARAM_PREFIX}{index}:"
                raw = _unprefixed(submission.values, prefix)
                given = {f.name: raw.get(f.name) or forms.initial_text(f) for f in proposal.form}
                values, problems = forms.read(proposal.form, given)
                errors.update(modals.field_errors(problems, prefix))
                item["values"] = values
            elif kind == "respond" and not message:
                errors[f"{modals.MESSAGE_BLOCK}:{index}"] = "Write the answer to send back."
            items.append(item)
        if errors:
            ack(response_action="errors", errors=errors)
            return
        decide(ack, approval, Decision("each", submission.user, items=items))


def register_fallbacks(app: App, deps: Deps) -> None:
    @app.view(re.compile(".*"))
    def unknown(ack: Ack, body: dict[str, Any]) -> None:
        ack(response_action="update", view=modals.cannot_edit_modal(UNKNOWN_FORM))


NOT_BOUND = "This form doesn't match a request I opened it for; nothing changed."
UNKNOWN_FORM = "I don't know this form (it may be from an older version of me); nothing changed."


def _unprefixed(values: dict[str, str | None], prefix: str) -> dict[str, str | None]:
    return {k.removeprefix(prefix): v for k, v in values.items() if k.startswith(prefix)}


def _first_block(body: dict[str, Any]) -> str:
    view = body.get("view")
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    default = modals.PARAM_PREFIX + "value"
    return next(iter(values), default) if isinstance(values, dict) else default


def _plain(text: str) -> str:
    # Inline errors are plain text: drop the mrkdwn date token's markup, keep its fallback.
    return re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text).replace("*", "")
