"""Modals: the forms an adapter's review asks for (edit, answer, respond, reject, a settings
button's notes, a batch decided call by call), and the full-text reader.

Inputs are typed from each :class:`~bot.domain.review.FormField`: text, multi-line, number,
yes/no and pick-one. Pre-filled values are shown as they are (never JSON-escaped), so what fits the
field's limit in characters fits Slack's.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.agents.forms import MAX_INPUT_CHARS, initial_text, too_long
from bot.domain.models import Approval
from bot.domain.review import FormField, Proposal, Review
from bot.slack.blocks.proposals import arguments_block, full_text
from bot.slack.blocks.text import chunks, escape, one_line, safe

EDIT, ANSWER, RESPOND, REJECT, CHOICE, EACH = (
    "approval.edit",
    "approval.answer_form",
    "approval.respond_form",
    "approval.reject",
    "approval.choice_form",
    "approval.each_form",
)
EDIT_DRAFT = EDIT_ACTION = EDIT  # one editor, whatever it edits
VALUE = "value"
PARAM_PREFIX = "param:"  # + the field's place in its form (+ the call's, in the batch modal)
REASON_BLOCK, MESSAGE_BLOCK, NOTES_BLOCK = "reason", "message", "notes"
DECISION_PREFIX = "decision:"  # + proposal index, in the batch modal
MAX_MODAL_BLOCKS = 100
MAX_PARAM_CHARS = MAX_INPUT_CHARS


def param_block(index: int, call: int | None = None) -> str:
    """The block_id of a form's ``index``-th input (of call ``call`` in the batch modal).
    By place, not by name: a name may be longer than the 255 characters a block_id holds, and
    a cut one would come back under an id the form cannot map to its field."""
    return f"{PARAM_PREFIX}{index}" if call is None else f"{PARAM_PREFIX}{call}:{index}"


DRAFT_BLOCK = param_block(0)  # a draft's form is its one text field

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


def _option(value: str, text: str | None = None) -> dict[str, Any]:
    return {"text": _plain((text or value)[:75]), "value": value[:150]}


def _element(field: FormField) -> dict[str, Any]:
    initial = initial_text(field)
    if field.kind in ("boolean", "enum"):
        options = ["true", "false"] if field.kind == "boolean" else list(field.options)
        names = {"true": "Yes", "false": "No"}
        element: dict[str, Any] = {
            "type": "static_select",
            "action_id": VALUE,
            "options": [
                _option(o, names.get(o) if field.kind == "boolean" else None) for o in options[:100]
            ],
        }
        if initial in options:
            element["initial_option"] = _option(
                initial, names.get(initial) if field.kind == "boolean" else None
            )
        return element
    if field.kind in ("number", "integer"):
        element = {
            "type": "number_input",
            "action_id": VALUE,
            "is_decimal_allowed": field.kind == "number",
        }
        if initial:
            element["initial_value"] = initial
        return element
    element = {
        "type": "plain_text_input",
        "action_id": VALUE,
        "multiline": field.kind in ("multiline", "json"),
        "max_length": MAX_INPUT_CHARS,
    }
    if initial:
        element["initial_value"] = initial
    return element


def _input(
    block_id: str, label: str, element: dict[str, Any], optional: bool, hint: str = ""
) -> dict[str, Any]:
    block: dict[str, Any] = {
        "type": "input",
        "block_id": block_id[:255],
        "label": _plain(label[:2000] or "Value"),
        "element": element,
        "optional": optional,
    }
    if hint:
        block["hint"] = _plain(hint[:2000])
    return block


def _text_input(block_id: str, label: str, optional: bool, limit: int = 1000) -> dict[str, Any]:
    element = {"type": "plain_text_input", "action_id": VALUE, "multiline": True}
    element["max_length"] = limit
    return _input(block_id, label, element, optional)


def field_inputs(
    fields: tuple[FormField, ...], call: int | None = None, optional: bool = False
) -> list[dict[str, Any]]:
    return [
        _input(param_block(i, call), f.label, _element(f), optional or not f.required, f.hint)
        for i, f in enumerate(fields)
    ]


def _proposal(review: Review) -> Proposal | None:
    return review.proposals[0] if len(review.proposals) == 1 else None


def edit_modal(approval: Approval) -> View:
    """The editor for what the request proposes, or a modal saying why there is none."""
    review = approval.review
    proposal = _proposal(review) if review else None
    if proposal is None or "edit" not in proposal.choices or not proposal.form:
        return cannot_edit_modal("This kind of request can only be approved or rejected.")
    return _form_modal(approval, proposal, EDIT, "Approve edited")


def answer_modal(approval: Approval) -> View:
    proposal = _proposal(approval.review) if approval.review else None
    if proposal is None or not proposal.form:
        return cannot_edit_modal("There is nothing to fill in for this request.")
    return _form_modal(approval, proposal, ANSWER, "Send")


def _form_modal(approval: Approval, proposal: Proposal, callback: str, submit: str) -> View:
    long = too_long(proposal.form)
    if long:
        return cannot_edit_modal(
            f"{'; '.join(long)}; Slack's editor holds at most {MAX_INPUT_CHARS:,}. "
            "Approve or reject it from the card."
        )
    title = "Edit draft" if approval.review and approval.review.shape == "draft" else "Edit"
    if callback == ANSWER:
        title = "Answer"
    blocks: list[dict[str, Any]] = []
    if proposal.description and approval.review and approval.review.shape != "draft":
        blocks.append(
            _section(f"*{safe(proposal.title, 200)[0]}*: {safe(proposal.description, 2000)[0]}")
        )
    blocks.extend(field_inputs(proposal.form))
    return _modal(
        title,
        blocks[:MAX_MODAL_BLOCKS],
        callback_id=callback,
        private_metadata=approval.id,
        submit=submit,
    )


def respond_modal(approval: Approval) -> View:
    return _modal(
        "Respond",
        [
            _section("Your answer goes back to the agent in place of running the tool."),
            _text_input(MESSAGE_BLOCK, "Your answer", False, MAX_INPUT_CHARS),
        ],
        callback_id=RESPOND,
        private_metadata=approval.id,
        submit="Send",
    )


def reject_modal(approval: Approval) -> View:
    return _modal(
        "Reject request",
        [
            _section("The agent will not go ahead. Tell it (and the requester) why?"),
            _text_input(REASON_BLOCK, "Reason (optional)", True),
        ],
        callback_id=REJECT,
        private_metadata=approval.id,
        submit="Reject",
    )


def choice_modal(approval: Approval, name: str, label: str, asks: tuple[str, ...]) -> View:
    """A settings button (e.g. "Request changes") that asks for notes or a reason."""
    blocks = [_section(f"*{escape(label)}*")]
    for ask in asks:
        block = NOTES_BLOCK if ask == "notes" else REASON_BLOCK
        blocks.append(_text_input(block, ask.capitalize(), False, MAX_INPUT_CHARS))
    return _modal(
        label,
        blocks,
        callback_id=CHOICE,
        private_metadata=f"{approval.id}:{name}",
        submit="Send",
    )


_CHOICE_WORDS = {
    "approve": "Approve",
    "edit": "Approve with my edits",
    "respond": "Respond instead",
    "reject": "Reject",
    "ignore": "Ignore",
}


SHORTENED_HERE = "_Shortened here: the card's *View full text* shows all of it._"
TOO_LONG_FOR_SLACK = "_Shortened here: this batch is too long for Slack to show in full._"


def each_modal(approval: Approval, edited: Sequence[dict[str, Any] | None] = ()) -> View:
    """A batch decided call by call: for each, what it does (its arguments as proposed, or as
    the edit that stands leaves them, ``edited``: read only, whatever the call allows), a
    decision, the inputs of an edit and a message."""
    review = approval.review
    if review is None or not review.proposals:
        return cannot_edit_modal("There is nothing to decide here.")
    fits = full_text_fits(full_text(approval, list(edited) or None))
    blocks: list[dict[str, Any]] = []
    for index, proposal in enumerate(review.proposals):
        title, description = one_line(proposal.title, 200)[0], safe(proposal.description, 1000)[0]
        head = f"*{index + 1}. `{title}`* {description}"
        # The arguments share the call's section (one block: a batch of ten calls of six
        # fields fills Slack's 100), within its 3,000 characters with the note.
        room = 3000 - len(head) - len(TOO_LONG_FOR_SLACK) - 2
        shown = edited[index] if index < len(edited) else None
        arguments, cut = arguments_block(proposal, shown, limit=room)
        if arguments is not None:
            head += "\n" + arguments["text"]["text"]
            if cut:
                head += "\n" + (SHORTENED_HERE if fits else TOO_LONG_FOR_SLACK)
        part: list[dict[str, Any]] = [{"type": "divider"}, _section(head)]
        options = [_option(c, _CHOICE_WORDS[c]) for c in proposal.choices if c in _CHOICE_WORDS]
        select = {"type": "static_select", "action_id": VALUE, "options": options}
        part.append(_input(f"{DECISION_PREFIX}{index}", "Decision", select, False))
        if "edit" in proposal.choices and not too_long(proposal.form):
            part.extend(field_inputs(proposal.form, index, optional=True))
        if {"respond", "reject"} & set(proposal.choices):
            part.append(
                _text_input(f"{MESSAGE_BLOCK}:{index}", "Message (for respond or reject)", True)
            )
        if len(blocks) + len(part) > MAX_MODAL_BLOCKS:
            return cannot_edit_modal("This batch is too big to review in one Slack form.")
        blocks.extend(part)
    return _modal(
        "Review each", blocks, callback_id=EACH, private_metadata=approval.id, submit="Send"
    )


def not_recorded_modal() -> View:
    return _modal(
        "Not recorded",
        [
            _section(
                "Sorry, I couldn't record that just now (my database didn't answer), so nothing "
                "changed. Close this and try again in a moment."
            )
        ],
    )


def unconfirmed_modal() -> View:
    return _modal(
        "Not confirmed",
        [
            _section(
                "Sorry, I can't tell whether I recorded that: my database stopped answering just "
                "as I wrote it. If it was recorded, it will be carried out once I reach my "
                "database again, and the card will show it; if the card still shows its "
                "buttons in a few minutes, please try again."
            )
        ],
    )


def cannot_edit_modal(why: str) -> View:
    return _modal("Can't edit here", [_section(escape(why))])


def _full_text_pieces(text: str) -> list[str]:
    return chunks(escape(text), 2900) if text else ["_(no text)_"]  # Slack refuses ""


def full_text_fits(text: str) -> bool:
    """Whether "View full text" shows all of ``text`` (always so up to FULL_TEXT_LIMIT)."""
    return len(_full_text_pieces(text)) < MAX_MODAL_BLOCKS


def full_text_modal(text: str) -> View:
    pieces = _full_text_pieces(text)
    blocks = [_section(piece) for piece in pieces[: MAX_MODAL_BLOCKS - 1]]
    if len(pieces) >= MAX_MODAL_BLOCKS:
        blocks.append(_section("_…the rest does not fit in a Slack modal._"))
    return _modal("Full text", blocks)


def field_errors(
    form: tuple[FormField, ...], errors: dict[str, str], call: int | None = None
) -> dict[str, str]:
    """Problems with ``form``'s fields (by name) keyed by the block IDs Slack shows them under."""
    return {param_block(i, call): errors[f.name] for i, f in enumerate(form) if f.name in errors}


def form_values(
    form: tuple[FormField, ...], values: dict[str, str | None], call: int | None = None
) -> dict[str, str | None]:
    """A submission's values of ``form``'s fields, by name, for those it carries."""
    blocks = ((f.name, param_block(i, call)) for i, f in enumerate(form))
    return {name: values[block] for name, block in blocks if block in values}
