"""What the card cuts can be read in full, in the version it shows (DESIGN invariant 4): the
version being signed when an edit stands, the decided one after, the request, an action's
description. A signer must be able to read all of what their Approve sends."""

from __future__ import annotations

from dataclasses import replace

from bot.agents import forms
from bot.domain.models import Decision
from bot.slack.blocks import card, modals, proposals
from tests.support.approvals import BOSS, action, decided, draft, make_approval
from tests.support.cards import blocks_text

# 2,955 characters on 31 lines: within Slack's 3,000 for the editor, but quoted on the card
# ("&gt; " a line) it runs past a section's 3,000.
TAIL = "HIDDEN TAIL: wire $1M to acct 42"
EDITED = "Harmless opening line.\n" + ("y" * 99 + "\n") * 29 + TAIL


def buttons(blocks) -> dict[str, dict]:
    return {
        element["text"]["text"]: element
        for block in blocks
        if block["type"] == "actions"
        for element in block["elements"]
    }


def readable(approval, blocks, edit: Decision | None = None) -> str:
    """All a reader can reach from the card: the card itself, and its View full text."""
    text = blocks_text(blocks)
    if "View full text" in buttons(blocks):
        edits = proposals.edited_values(approval, edit) if edit else None
        modal = modals.full_text_modal(proposals.full_text(approval, edits))
        text += "\n" + blocks_text(modal["blocks"])
    return text


def test_a_standing_edit_the_card_cuts_is_behind_view_full_text_as_edited():
    approval = draft("Short original note.")
    assert len(EDITED) <= 3000
    edit = Decision("edit", BOSS, text=EDITED)
    blocks = card.pending_card(approval, edit=edit)
    assert "Approve this version" in buttons(blocks)
    assert TAIL not in blocks_text(blocks)  # the card cut the edit...
    assert "View full text" in buttons(blocks)  # ...and offers all of it
    shown = readable(approval, blocks, edit)
    assert TAIL in shown and "Short original note." not in shown.split("View full text")[-1]


def test_an_edit_the_card_shows_whole_offers_no_full_text_of_the_original():
    approval = draft("The original draft. " * 200)  # long: its card offers View full text
    assert "View full text" in buttons(card.pending_card(approval))
    edit = Decision("edit", BOSS, text="A short rewrite.")
    blocks = card.pending_card(approval, edit=edit)
    assert "View full text" not in buttons(blocks)
    assert "View full text" not in blocks_text(blocks)  # nor a note pointing at it


def test_edited_parameters_the_card_cuts_are_behind_view_full_text_as_edited():
    approval = action(
        "Send the status mail", {"to": "ops@example.com", "subject": "s", "body": "b"}
    )
    body = "Dear all,\n" + "status line\n" * 400 + TAIL
    edit = Decision(
        "edit", BOSS, parameters={"to": "ops@example.com", "subject": "s", "body": body}
    )
    blocks = card.pending_card(approval, edit=edit)
    assert TAIL not in blocks_text(blocks)
    assert "View full text" in buttons(blocks)
    assert "Shortened for the card" in blocks_text(blocks)
    assert TAIL in readable(approval, blocks, edit)


def test_a_decided_card_shows_the_decided_edit_in_full():
    approval = decided(draft("Short original note."), "edit", text=EDITED)
    blocks = card.decided_card(approval)
    assert TAIL not in blocks_text(blocks)
    assert "View full text" in buttons(blocks)
    assert TAIL in blocks_text(modals.full_text_modal(proposals.full_text(approval))["blocks"])


def test_a_long_action_description_is_behind_view_full_text():
    description = "Sends the weekly status email. " * 100 + "TAIL-OF-DESCRIPTION"
    approval = action(description, {"to": "ops@example.com", "subject": "s", "body": "b"})
    blocks = card.pending_card(approval)
    assert "TAIL-OF-DESCRIPTION" not in blocks_text(blocks)
    assert "View full text" in buttons(blocks)
    assert "TAIL-OF-DESCRIPTION" in readable(approval, blocks)


def test_a_long_request_is_behind_view_full_text():
    request = "Draft the VPN note. " * 100 + "AND ALSO ANNOUNCE THE LAYOFFS"
    approval = draft("VPN down 22:00-23:00 UTC.", request=request)
    blocks = card.pending_card(approval)
    assert "AND ALSO ANNOUNCE THE LAYOFFS" not in blocks_text(blocks)
    assert "View full text" in buttons(blocks)
    assert "AND ALSO ANNOUNCE THE LAYOFFS" in readable(approval, blocks)


def test_a_short_card_offers_no_full_text():
    approval = draft("VPN down 22:00-23:00 UTC.")
    assert "View full text" not in buttons(card.pending_card(approval))
    approval = replace(action("Send it", {"to": "a@example.com", "subject": "s", "body": "b"}))
    assert "View full text" not in buttons(card.pending_card(approval))


INVOICE = {
    "action_requests": [{"name": "send_invoice", "args": {"cc": ["ops@x.io", "evil@attacker.io"]}}],
    "review_configs": [
        {"action_name": "send_invoice", "allowed_decisions": ["approve", "edit", "reject"]}
    ],
}


def test_an_edit_that_emptied_every_field_is_an_edit_not_the_proposal():
    """Its values are {} (the call runs without its one field): the form opened on it starts
    empty and View full text does not show the agent's value."""
    approval = make_approval(INVOICE)
    [proposal] = approval.review.proposals
    [field] = proposal.form
    values, errors = forms.read(proposal.form, {field.name: ""})
    assert (values, errors) == ({}, {})
    edit = Decision("edit", BOSS, parameters=values)
    edits = approval.edited_values(edit)
    assert approval.review.with_values(edits).proposals[0].form[0].initial is None
    assert "evil@attacker.io" not in proposals.full_text(approval, edits)
    assert "evil@attacker.io" not in blocks_text(card.pending_card(approval, edit=edit))
