"""The sign-off lines of a card: rounds, stages, approvals so far; and who is named where."""

from __future__ import annotations

from dataclasses import replace

from bot.domain.models import Decision
from bot.domain.signoff import Signed, SignOff, Stage
from bot.domain.votes import Vote
from bot.slack.blocks import card, progress
from tests.fakes.blockkit import validate_message_blocks
from tests.support.approvals import decided, draft
from tests.support.cards import blocks_text
from tests.support.mrkdwn import live_tokens

TWO = SignOff((Stage(approvers=("S0LEADS",), quorum=2),))
STAGED = SignOff((Stage("Editor", ("U0ED",)), Stage("Legal", ("U0LAW",))), total=2)


def _vote(voter, kind="approve", stage=0, void=False, **decision):
    return Vote(voter, stage, kind, Decision(kind, voter, **decision), void)


def test_a_quorum_card_says_how_many_approvals_it_has_and_needs():
    approval = replace(draft("hi"), signoff=TWO)
    assert progress.lines(approval, TWO, []) == ("0 of 2 approvals",)
    assert progress.lines(approval, TWO, [_vote("U0A")]) == ("1 of 2 approvals: <@U0A>",)


def test_an_edit_is_shown_and_its_earlier_approvals_do_not_count():
    approval = replace(draft("hi"), signoff=TWO)
    votes = [_vote("U0A", void=True), _vote("U0B", "edit", text="Hello all")]
    lines = progress.lines(approval, TWO, votes)
    assert lines[0] == "1 of 2 approvals: <@U0B>"
    assert lines[1].startswith("Version 1, edited by <@U0B>")
    blocks = card.pending_card(approval, (), lines, votes[1].decision)
    assert "Hello all" in blocks_text(blocks) and "hi" not in blocks_text(blocks[1:2])


def test_the_second_stage_names_itself_and_who_signed_the_first():
    approval = replace(draft("hi"), signoff=STAGED, stage=1)
    lines = progress.lines(approval, STAGED, [_vote("U0ED")])
    assert lines == (
        "Stage 1 of 2: Editor signed by <@U0ED>",
        "*Stage 2 of 2: Legal*",
        "0 of 1 approvals",
    )


def test_a_later_round_says_so_and_quotes_the_previous_one():
    sign_off = SignOff(
        earlier=(Signed("Stage 1 of 2: Clinician", ("U0C",)),),
        round=2,
        previous="☑️ *Request changes* by <@U0A>: shorter",
    )
    lines = progress.lines(draft("hi"), sign_off, [])
    assert lines == (
        "*Round 2* · previous round: ☑️ *Request changes* by <@U0A>: shorter",
        "Stage 1 of 2: Clinician signed by <@U0C>",
    )


def test_untrusted_stage_names_stay_text_and_the_card_is_one_slack_accepts():
    sign_off = SignOff(earlier=(Signed("<!channel> <https://x|y>", ("U0C",)),), round=3)
    approval = replace(draft("hi"), signoff=sign_off)
    lines = progress.lines(approval, sign_off, [])
    assert live_tokens("\n".join(lines), trusted_users=("U0C",)) == []
    assert validate_message_blocks(card.pending_card(approval, ("a note",), lines)) == []


def test_the_decided_card_names_everyone_who_signed():
    approval = decided(draft("hi"), "approve", approvers=["U0A", "U0B", "U0C"])
    text = blocks_text(card.decided_card(approval))
    assert "Approved* by <@U0A>, <@U0B> and <@U0C>" in text


def test_an_expired_quorum_card_shows_how_far_it_got():
    approval = replace(decided(draft("hi"), "expire"), signoff=TWO)
    assert progress.lines(approval, TWO, [_vote("U0A")]) == ("1 of 2 approvals: <@U0A>",)


def test_needed_says_how_many_more_and_from_whom():
    count = progress.tally([_vote("U0A")], 0)
    assert progress.needed(count, Stage(quorum=2), "<@U0B>") == (
        "1 of 2 approvals so far; it needs 1 more from <@U0B>."
    )
    assert progress.needed(count, Stage(), "x").endswith("this stage is signed.")


def test_an_edit_note_shows_only_what_changed():
    from bot.slack.blocks.notices import edit_note
    from tests.support.approvals import action

    approval = action("Mail ops", {"to": "ops@x.co", "subject": "Hi", "body": "<!here> text"})
    edited = decided(approval, "edit", parameters={"to": "ops@x.co", "subject": "Hello"})
    assert edit_note(edited) == ("✏️ <@U0BOSS> edited it before approving:\n• *subject*: Hi → Hello")
    same = decided(approval, "edit", parameters={"to": "ops@x.co"})
    assert edit_note(same) == "✏️ <@U0BOSS> opened the edit and approved it unchanged."
    assert edit_note(decided(approval, "approve")) is None


def test_an_edit_of_a_part_of_the_pause_notes_the_old_value():
    # README's refund example: the card shows the whole pause, Edit edits its `refund` part.
    from bot.agents import adapters
    from bot.agents.graph_settings import GraphSettings
    from bot.core.journal import _after, _before
    from bot.domain.review import Pending
    from bot.slack.blocks.notices import edit_note
    from tests.support.approvals import make_approval

    value = {"question": "Refund order 1042?", "refund": {"amount": 25.0}}
    approval = make_approval(value, "refund order 1042")
    context = adapters.Context("refund", GraphSettings(edit="refund"))
    approval = replace(approval, review=adapters.describe(Pending("int-1", value), context))
    edited = decided(approval, "edit", parameters={"amount": 40.0})
    assert edit_note(edited) == "✏️ <@U0BOSS> edited it before approving:\n• *amount*: 25.0 → 40.0"
    assert (_before(edited), _after(edited.decision)) == ({"amount": 25.0}, {"amount": 40.0})
