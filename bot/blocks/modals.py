"""Modals: edit a draft, edit an action's parameters, give a rejection reason, read in full."""

from __future__ import annotations

import json
from typing import Any

from bot.blocks.text import chunks, escape
from bot.models import Approval
from graphs.actions import MAX_PARAM_CHARS, ActionRegistry, ActionSpec

EDIT_DRAFT, EDIT_ACTION, REJECT = "approval.edit_draft", "approval.edit_action", "approval.reject"
DRAFT_BLOCK, VALUE = "draft", "value"
REASON_BLOCK = "reason"
PARAM_PREFIX = "param:"
MAX_MODAL_BLOCKS = 100

View = dict[str, Any]


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _modal(title: str, blocks: list[dict[str, Any]], **extra: Any) -> View:
    view: View = {"type": "modal", "title": _plain(title[:24]), "blocks": blocks}
    view["close"] = _plain("Cancel" if "submit" in extra else "Close")
    for key, value in extra.items():
        view[key] = _plain(value) if key == "submit" else value
    return view


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text, "verbatim": True}}


def _input(block_id: str, label: str, initial: str, multiline: bool, optional: bool) -> dict:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": VALUE,
        "multiline": multiline,
        "max_length": MAX_PARAM_CHARS,
    }
    if initial:
        element["initial_value"] = initial
    return {
        "type": "input",
        "block_id": block_id,
        "label": _plain(label[:2000]),
        "element": element,
        "optional": optional,
    }


def edit_draft_modal(approval: Approval) -> View:
    draft = str(approval.payload.get("draft", ""))
    if len(draft) > MAX_PARAM_CHARS:
        return cannot_edit_modal(
            f"This draft is {len(draft):,} characters long; Slack's editor holds at most "
            f"{MAX_PARAM_CHARS:,}. Approve or reject it from the card, or ask the agent for a "
            "shorter draft with `/agent`."
        )
    return _modal(
        "Edit draft",
        [_input(DRAFT_BLOCK, "Message to post", draft, True, False)],
        callback_id=EDIT_DRAFT,
        private_metadata=approval.id,
        submit="Approve edited",
    )


def edit_action_modal(approval: Approval, spec: ActionSpec) -> View:
    params = dict(approval.payload.get("parameters") or {})
    too_long = [p.label for p in spec.params if len(str(params.get(p.name, ""))) > MAX_PARAM_CHARS]
    if too_long:
        return cannot_edit_modal(
            f"{', '.join(too_long)} is longer than Slack's editor holds ({MAX_PARAM_CHARS:,} "
            "characters). Approve or reject the action from the card."
        )
    blocks = [_section(f"*{escape(spec.description)}* (`{spec.name}`)")]
    for p in spec.params:
        value = params.get(p.name, "")
        initial = value if isinstance(value, str) else json.dumps(value)
        block_id = PARAM_PREFIX + p.name
        blocks.append(_input(block_id, p.label, initial, p.multiline, not p.required))
    return _modal(
        "Edit action",
        blocks,
        callback_id=EDIT_ACTION,
        private_metadata=approval.id,
        submit="Approve edited",
    )


def edit_modal(approval: Approval, registry: ActionRegistry) -> View:
    """The right editor for what the request proposes, or a modal saying why there is none."""
    kind = approval.payload.get("kind")
    if kind == "draft":
        return edit_draft_modal(approval)
    spec = registry.get(str(approval.payload.get("action_type"))) if kind == "action" else None
    if spec is None:
        return cannot_edit_modal("This kind of request can only be approved or rejected.")
    return edit_action_modal(approval, spec)


def reject_modal(approval: Approval) -> View:
    reason = _input(REASON_BLOCK, "Reason (optional)", "", True, True)
    reason["element"]["max_length"] = 1000
    return _modal(
        "Reject request",
        [_section("The agent will not go ahead. Tell it (and the requester) why?"), reason],
        callback_id=REJECT,
        private_metadata=approval.id,
        submit="Reject",
    )


def cannot_edit_modal(why: str) -> View:
    return _modal("Can't edit here", [_section(escape(why))])


def full_text_modal(text: str) -> View:
    pieces = chunks(escape(text), 2900) if text else ["_(no text)_"]  # Slack refuses ""
    blocks = [_section(piece) for piece in pieces[: MAX_MODAL_BLOCKS - 1]]
    if len(pieces) >= MAX_MODAL_BLOCKS:
        blocks.append(_section("_…the rest does not fit in a Slack modal._"))
    return _modal("Full text", blocks)


def field_errors(errors: dict[str, str]) -> dict[str, str]:
    """Parameter problems keyed by the block IDs Slack shows them under."""
    return {PARAM_PREFIX + name: message for name, message in errors.items()}
