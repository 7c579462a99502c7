"""Modal submissions: bad input gets inline errors; good input closes the modal and decides,
recorded before the ack. The unknown-form catch-all is registered after the rest."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from typing import Any

from slack_bolt import Ack

from bot.agents import adapters, forms
from bot.domain.models import Approval, Decision
from bot.domain.review import FormField, Proposal
from bot.domain.votes import as_shown, not_run
from bot.slack.blocks import card, modals
from bot.slack.blocks.outcomes import CHANGED, already_decided
from bot.slack.listeners.binding import Bound, unseal
from bot.slack.listeners.context import ListenerDeps
from bot.slack.listeners.parse import BadPayload, Submission, parse_submission
from bot.store.db import OutcomeUnknown

logger = logging.getLogger(__name__)
NOT_BOUND = "This form doesn't match a request I opened it for; nothing changed."
UNKNOWN_FORM = "I don't know this form (it may be from an older version of me); nothing changed."
NO_LONGER_EXISTS = "This request no longer exists."
NOTHING_TO_FILL = "Nothing to fill in."
CHOICE_GONE = "That choice is gone."
FILL_IN = "Please fill this in."
WRITE_AN_ANSWER = "Write an answer."
CHOOSE = "Choose what to do with this call."
WRITE_THE_REPLY = "Write the answer to send back."
NOT_THE_CARDS = (
    "The version on the card does not run this call, and approving every call signs that "
    "version: choose what the card shows for it, or approve a call with your edits (a new "
    "version the others sign)."
)


def edit_submitted(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    _form_submitted(ack, body, "edit", deps)


def answer_submitted(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    _form_submitted(ack, body, "answer", deps)


def respond_submitted(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    found = _submitted(ack, body, modals.MESSAGE_BLOCK, deps)
    if found is None:
        return
    submission, approval, _ = found
    message = (submission.values.get(modals.MESSAGE_BLOCK) or "").strip()
    if not message:
        ack(response_action="errors", errors={modals.MESSAGE_BLOCK: WRITE_AN_ANSWER})
        return
    _decide(ack, approval, Decision("respond", submission.user, message=message), deps)


def reject_submitted(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    found = _submitted(ack, body, modals.REASON_BLOCK, deps)
    if found is None:
        return
    submission, approval, _ = found
    reason = (submission.values.get(modals.REASON_BLOCK) or "").strip() or None
    _decide(ack, approval, Decision("reject", submission.user, reason=reason), deps)


def choice_submitted(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    found = _submitted(ack, body, modals.NOTES_BLOCK, deps)
    if found is None:
        return
    submission, approval, bound = found
    extras = approval.review.extra if approval.review else ()
    extra = next((c for c in extras if c.name == bound.name), None)
    if extra is None:
        ack(response_action="errors", errors={modals.NOTES_BLOCK: CHOICE_GONE})
        return
    notes = (submission.values.get(modals.NOTES_BLOCK) or "").strip()
    reason = (submission.values.get(modals.REASON_BLOCK) or "").strip()
    missing = {
        block: FILL_IN
        for ask, block, text in (
            ("notes", modals.NOTES_BLOCK, notes),
            ("reason", modals.REASON_BLOCK, reason),
        )
        if ask in extra.asks and not text
    }
    if missing:
        ack(response_action="errors", errors=missing)
        return
    decision = Decision(bound.name, submission.user, message=notes or None, reason=reason or None)
    _decide(ack, approval, decision, deps)


def each_submitted(ack: Ack, body: dict[str, Any], *, deps: ListenerDeps) -> None:
    found = _submitted(ack, body, modals.DECISION_PREFIX + "0", deps)
    if found is None:
        return
    submission, approval, _ = found
    proposals = approval.review.proposals if approval.review else ()
    blocks = {modals.param_block(i, n) for n, p in enumerate(proposals) for i in range(len(p.form))}
    if _foreign(submission.values, blocks):
        ack(response_action="errors", errors={modals.DECISION_PREFIX + "0": UNKNOWN_FORM})
        return
    items, errors = read_each(proposals, submission.values)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    try:
        edit = deps.tally.standing_edit(approval, quick=True)  # before the ack
    except Exception:
        logger.exception("could not read the votes of a Review each submission")
        ack(response_action="update", view=modals.not_recorded_modal())
        return
    if edit is not None:  # the form showed that edit's values: what an approval there signs
        signed = as_shown(items, edit, card.edited_values(approval, edit) or [])
        if signed is None:
            ack(response_action="errors", errors=_each_errors(not_run(edit), NOT_THE_CARDS))
            return
        items = signed
    _decide(ack, approval, Decision("each", submission.user, items=items), deps)


def _each_errors(calls: list[int], problem: str) -> dict[str, str]:
    return {f"{modals.DECISION_PREFIX}{index}": problem for index in calls}


def unknown_form(ack: Ack) -> None:
    """A form no listener above knows: it needs nothing but the ack, so it is registered as is."""
    ack(response_action="update", view=modals.cannot_edit_modal(UNKNOWN_FORM))


def read_each(
    proposals: tuple[Proposal, ...], values: dict[str, str | None]
) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """The batch modal's answers: one decision per proposal, or the inline errors to show."""
    items: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    for index, proposal in enumerate(proposals):
        kind = values.get(f"{modals.DECISION_PREFIX}{index}") or ""
        message = (values.get(f"{modals.MESSAGE_BLOCK}:{index}") or "").strip()
        item: dict[str, Any] = {"type": kind, "message": message or None}
        if kind not in proposal.choices:
            errors[f"{modals.DECISION_PREFIX}{index}"] = CHOOSE
        elif kind == "edit":
            raw = _as_submitted(proposal.form, modals.form_values(proposal.form, values, index))
            read, problems = forms.read(proposal.form, raw)
            errors.update(modals.field_errors(proposal.form, problems, index))
            item["values"] = read
        elif kind == "respond" and not message:
            errors[f"{modals.MESSAGE_BLOCK}:{index}"] = WRITE_THE_REPLY
        items.append(item)
    return items, errors


# The steps they share -------------------------------------------------------------------------


def _submitted(
    ack: Ack, body: dict[str, Any], block: str, deps: ListenerDeps
) -> tuple[Submission, Approval, Bound] | None:
    """The submission, its request and what the modal was opened for, or None after telling
    the user why not (inline, in the ack)."""
    try:
        submission = parse_submission(body)
    except BadPayload as problem:
        ack(response_action="errors", errors={block: str(problem)})
        return None
    bound = unseal(deps.modal_key, submission.approval_id, submission.user)
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
        ack(response_action="errors", errors={block: NO_LONGER_EXISTS})
        return None
    if not approval.pending:
        ack(response_action="errors", errors={block: _plain(already_decided(approval))})
        return None
    if bound.version != approval.version:
        ack(response_action="errors", errors={block: _plain(CHANGED)})
        return None
    return submission, approval, bound


def _form_submitted(ack: Ack, body: dict[str, Any], kind: str, deps: ListenerDeps) -> None:
    block = _first_block(body)
    found = _submitted(ack, body, block, deps)
    if found is None:
        return
    submission, approval, _ = found
    proposal = _single(approval)
    if proposal is None or not proposal.form:
        ack(response_action="errors", errors={block: NOTHING_TO_FILL})
        return
    if _foreign(submission.values, {modals.param_block(i) for i in range(len(proposal.form))}):
        ack(response_action="errors", errors={block: UNKNOWN_FORM})
        return
    raw = _as_submitted(proposal.form, modals.form_values(proposal.form, submission.values))
    values, errors = forms.read(proposal.form, raw)
    # What the graph's own schema would refuse when it resumes: said here, before the ack,
    # not after the request was claimed for an answer the run then cannot take.
    errors = errors or forms.refused_by(
        adapters.form_schema(approval.payload, approval.review), values
    )
    if errors:
        ack(response_action="errors", errors=modals.field_errors(proposal.form, errors))
        return
    draft = approval.review is not None and approval.review.shape == "draft"
    if kind == "edit" and draft:
        decision = Decision("edit", submission.user, text=values.get("text"))
    else:
        decision = Decision(kind, submission.user, parameters=values)
    _decide(ack, approval, decision, deps)


def _decide(ack: Ack, approval: Approval, decision: Decision, deps: ListenerDeps) -> None:
    """Record the submission before the modal closes; if that fails, say so in it."""
    decision = replace(decision, version=approval.version)
    try:
        deps.engine.receive(approval.id, decision, approval.channel)
    except OutcomeUnknown:
        logger.exception("a %s submission may or may not have been recorded", decision.type)
        ack(response_action="update", view=modals.unconfirmed_modal())
        return
    except Exception:
        logger.exception("could not record a %s submission", decision.type)
        ack(response_action="update", view=modals.not_recorded_modal())
        return
    ack()


def _single(approval: Approval) -> Proposal | None:
    review = approval.review
    return review.proposals[0] if review and len(review.proposals) == 1 else None


def _as_submitted(form: tuple[FormField, ...], raw: dict[str, str | None]) -> dict[str, str | None]:
    """Each field as the form came back: a field the person emptied is empty (Slack sends it
    as null), never the proposal's value again; one the submission does not carry at all keeps
    the value the form showed."""
    return {f.name: raw[f.name] if f.name in raw else forms.initial_text(f) for f in form}


def _foreign(values: dict[str, str | None], blocks: set[str]) -> bool:
    """Whether a submission carries an input its form does not have (say a form opened by an
    older version of me, whose inputs were named otherwise): it is refused rather than read as
    leaving every field as proposed."""
    return any(k.startswith(modals.PARAM_PREFIX) and k not in blocks for k in values)


def _first_block(body: dict[str, Any]) -> str:
    view = body.get("view")
    state = view.get("state") if isinstance(view, dict) else None
    values = state.get("values") if isinstance(state, dict) else None
    default = modals.PARAM_PREFIX + "value"
    return next(iter(values), default) if isinstance(values, dict) else default


def _plain(text: str) -> str:
    # Inline errors are plain text: drop the mrkdwn date token's markup, keep its fallback.
    return re.sub(r"<!date\^\d+\^[^|]*\|([^>]*)>", r"\1", text).replace("*", "")
