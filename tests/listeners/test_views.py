"""Modal submissions, called as Bolt would call them: inline errors, or recorded and closed."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.agents import adapters
from bot.agents.adapters import Context
from bot.domain.models import Decision
from bot.domain.review import Choice, FormField, Pending, Proposal, Review
from bot.slack.blocks import modals
from bot.slack.listeners import actions, views
from tests.adapters.payloads import SEND_EMAIL_SCHEMA, hitl_value
from tests.listeners.doubles import (
    APPROVAL_ID,
    APPROVER,
    CARD_CHANNEL,
    STRANGER,
    approval,
    batch_review,
    click,
    submission,
    with_choices,
    world,
)
from tests.support.forms import block_of

DRAFT = modals.DRAFT_BLOCK
NOT_RECORDED = {"response_action": "update", "view": modals.not_recorded_modal()}


def errors(w) -> dict[str, str]:
    (said,) = w.ack.calls
    assert said["response_action"] == "errors"
    return said["errors"]


def test_a_rejection_is_recorded_then_the_modal_closes():
    w = world()
    w.add(approval(version=2))
    body = submission(w.seal(version=2), {modals.REASON_BLOCK: "  not tonight "})
    views.reject_submitted(w.ack, body, deps=w.deps)
    assert w.log.names() == ["get_approval", "receive", "ack"]
    assert w.ack.calls == [{}]
    decision = Decision("reject", APPROVER, reason="not tonight", version=2)
    assert w.engine.received == [(APPROVAL_ID, decision, CARD_CHANNEL)]


def test_an_edited_draft_is_recorded_as_its_text():
    w = world()
    w.add(approval())
    views.edit_submitted(w.ack, submission(w.seal(), {DRAFT: "Hello, edited"}), deps=w.deps)
    ((_, decision, _),) = w.engine.received
    assert (decision.type, decision.text, decision.parameters) == ("edit", "Hello, edited", None)


def test_an_answer_is_recorded_as_its_values():
    w = world()
    w.add(approval())
    views.answer_submitted(w.ack, submission(w.seal(), {DRAFT: "42"}), deps=w.deps)
    ((_, decision, _),) = w.engine.received
    assert (decision.type, decision.parameters) == ("answer", {"text": "42"})


@pytest.mark.parametrize(
    ("listener", "block"),
    [
        (views.edit_submitted, modals.PARAM_PREFIX + "value"),
        (views.respond_submitted, modals.MESSAGE_BLOCK),
        (views.reject_submitted, modals.REASON_BLOCK),
        (views.choice_submitted, modals.NOTES_BLOCK),
        (views.each_submitted, modals.DECISION_PREFIX + "0"),
    ],
)
def test_a_malformed_submission_is_refused_inline(listener, block):
    w = world()
    w.add(approval())
    listener(w.ack, {"user": {"id": APPROVER}, "view": {"state": None}}, deps=w.deps)
    assert errors(w) == {block: "Sorry, I couldn't read that form. Please try again."}
    assert w.engine.received == []


def test_a_form_opened_for_someone_else_or_forged_is_refused():
    w = world()
    w.add(approval())
    for metadata, user in [(w.seal(), STRANGER), (APPROVAL_ID, APPROVER), ("x" * 5000, APPROVER)]:
        w.log.clear()
        views.reject_submitted(w.ack, submission(metadata, {}, user=user), deps=w.deps)
        assert errors(w) == {modals.REASON_BLOCK: views.NOT_BOUND}
    assert w.engine.received == []


def test_a_request_gone_decided_or_changed_since_is_refused_inline():
    w = world()
    views.reject_submitted(w.ack, submission(w.seal(), {}), deps=w.deps)
    assert errors(w) == {modals.REASON_BLOCK: views.NO_LONGER_EXISTS}
    w = world()
    w.add(approval(status="approved", decided_by=STRANGER, decided_at=1_700_000_100.0))
    views.reject_submitted(w.ack, submission(w.seal(), {}), deps=w.deps)
    said = errors(w)[modals.REASON_BLOCK]
    assert said.startswith("Nothing changed: this request was already decided.")
    assert "<!date" not in said and "*" not in said  # plain text, as inline errors are
    w = world()
    w.add(approval(version=3))
    views.reject_submitted(w.ack, submission(w.seal(version=2), {}), deps=w.deps)
    assert errors(w)[modals.REASON_BLOCK].startswith("Nothing changed: this request was edited")
    assert w.engine.received == []


def test_when_the_database_does_not_answer_the_modal_says_so():
    w = world()
    w.store.down = True
    views.reject_submitted(w.ack, submission(w.seal(), {}), deps=w.deps)
    assert w.ack.calls == [NOT_RECORDED]
    w = world()
    w.add(approval())
    w.engine.down = True
    views.reject_submitted(w.ack, submission(w.seal(), {}), deps=w.deps)
    assert w.log.names() == ["get_approval", "receive", "ack"]
    assert w.ack.calls == [NOT_RECORDED]


def test_a_submission_whose_write_may_have_landed_is_never_called_unrecorded():
    w = world()
    w.add(approval())
    w.engine.unknown = True
    views.reject_submitted(w.ack, submission(w.seal(), {}), deps=w.deps)
    assert w.ack.calls == [{"response_action": "update", "view": modals.unconfirmed_modal()}]


def test_respond_needs_an_answer():
    w = world()
    w.add(approval())
    views.respond_submitted(w.ack, submission(w.seal(), {modals.MESSAGE_BLOCK: " "}), deps=w.deps)
    assert errors(w) == {modals.MESSAGE_BLOCK: views.WRITE_AN_ANSWER}
    w.log.clear()
    views.respond_submitted(w.ack, submission(w.seal(), {modals.MESSAGE_BLOCK: "no"}), deps=w.deps)
    assert w.engine.received[0][1].message == "no"


def test_an_edit_with_a_bad_field_or_nothing_to_fill_is_refused_inline():
    w = world()
    w.add(approval())
    views.edit_submitted(w.ack, submission(w.seal(), {DRAFT: ""}), deps=w.deps)
    assert list(errors(w)) == [DRAFT]
    w = world()
    w.add(approval(review=batch_review()))
    views.edit_submitted(w.ack, submission(w.seal(), {DRAFT: "x"}), deps=w.deps)
    assert errors(w) == {DRAFT: views.NOTHING_TO_FILL}
    assert w.engine.received == []


def test_a_choice_asks_for_what_it_needs_and_records_its_name():
    w = world()
    w.add(approval(review=with_choices(Choice("changes", "Request changes", ("notes",)))))
    metadata = w.seal(name="changes")
    views.choice_submitted(w.ack, submission(metadata, {modals.NOTES_BLOCK: ""}), deps=w.deps)
    assert errors(w) == {modals.NOTES_BLOCK: views.FILL_IN}
    w.log.clear()
    views.choice_submitted(w.ack, submission(metadata, {modals.NOTES_BLOCK: "More"}), deps=w.deps)
    assert w.ack.calls == [{}]
    ((_, decision, _),) = w.engine.received
    assert (decision.type, decision.message, decision.reason) == ("changes", "More", None)


def test_a_choice_gone_since_the_form_opened_is_refused():
    w = world()
    w.add(approval())
    body = submission(w.seal(name="changes"), {modals.NOTES_BLOCK: "x"})
    views.choice_submitted(w.ack, body, deps=w.deps)
    assert errors(w) == {modals.NOTES_BLOCK: views.CHOICE_GONE}


def test_a_batch_is_decided_call_by_call():
    w = world()
    w.add(approval(review=batch_review()))
    values = {
        "decision:0": "edit",
        block_of(batch_review(), "to", call=0): "ops@example.com",
        "decision:1": "respond",
        "message:1": "not now",
    }
    views.each_submitted(w.ack, submission(w.seal(), values), deps=w.deps)
    assert w.ack.calls == [{}]
    ((_, decision, _),) = w.engine.received
    assert decision.items == [
        {"type": "edit", "message": None, "values": {"to": "ops@example.com"}},
        {"type": "respond", "message": "not now"},
    ]


def test_a_batch_with_calls_left_undecided_or_unanswered_is_refused_inline():
    w = world()
    w.add(approval(review=batch_review()))
    to = block_of(batch_review(), "to", call=0)
    values = {"decision:0": "edit", to: "not an address", "decision:1": "respond"}
    views.each_submitted(w.ack, submission(w.seal(), values), deps=w.deps)
    assert set(errors(w)) == {to, "message:1"}
    w.log.clear()
    views.each_submitted(w.ack, submission(w.seal(), {"decision:0": "respond"}), deps=w.deps)
    assert errors(w) == {"decision:0": views.CHOOSE, "decision:1": views.CHOOSE}
    assert w.engine.received == []


def test_an_unknown_form_is_answered_in_the_modal():
    w = world()
    views.unknown_form(w.ack)
    (said,) = w.ack.calls
    assert said["response_action"] == "update"
    assert views.UNKNOWN_FORM in said["view"]["blocks"][0]["text"]["text"]


# What runs is what the form came back with: a field the approver emptied is not the agent's.
CC = {"to": "a@b.co", "subject": "Hi", "body": "Hello", "cc": ["x@evil.example"]}
OTHER = {"to": "c@d.co", "subject": "Yo", "body": "Hey"}
MAILER = Context("mailer", tools={"send_email": SEND_EMAIL_SCHEMA})


def _tool_calls(*calls: dict) -> Pending:
    value = hitl_value(*(("send_email", args) for args in calls))
    return Pending("i-1", value, "HumanInTheLoopMiddleware")


def _as_untouched(view) -> dict:
    """What Slack sends back for a form nobody changed: every input with its initial value."""
    return {
        b["block_id"]: b["element"].get("initial_value")
        for b in view["blocks"]
        if b["type"] == "input" and "initial_value" in b["element"]
    }


def test_an_emptied_field_in_edit_runs_without_it_not_with_the_proposal_s_value():
    p = _tool_calls(CC)
    review = adapters.describe(p, MAILER)
    w = world()
    values = _as_untouched(modals.edit_modal(w.add(approval(graph="mailer", review=review))))
    cc = block_of(review, "cc")
    assert values[cc]  # shown to the approver, who empties it
    values[cc] = None
    views.edit_submitted(w.ack, submission(w.seal(), values), deps=w.deps)
    assert w.ack.calls == [{}]
    [(_, decision, _)] = w.engine.received
    [sent] = adapters.answer(p, review, decision, MAILER).value["decisions"]
    assert sent["edited_action"]["args"] == {k: v for k, v in CC.items() if k != "cc"}


def test_an_emptied_field_in_review_each_runs_without_it_not_with_the_proposal_s_value():
    p = _tool_calls(CC, OTHER)
    review = adapters.describe(p, MAILER)
    w = world()
    values = _as_untouched(modals.each_modal(w.add(approval(graph="mailer", review=review))))
    values.update({"decision:0": "edit", block_of(review, "cc", 0): None, "decision:1": "approve"})
    views.each_submitted(w.ack, submission(w.seal(), values), deps=w.deps)
    [(_, decision, _)] = w.engine.received
    first, second = adapters.answer(p, review, decision, MAILER).value["decisions"]
    assert first["edited_action"]["args"] == {k: v for k, v in CC.items() if k != "cc"}
    assert second == {"type": "approve"}


def test_review_each_making_a_new_version_keeps_a_standing_edit_where_it_approves():
    # Alice's edit stands (call 1 without its cc: version 2). Bob's form shows call 1 so; he
    # approves it and edits call 2. His batch is a new version: call 1 in it must be what he
    # was shown and approved, Alice's values, never the agent's cc again.
    p = _tool_calls(CC, OTHER)
    review = adapters.describe(p, MAILER)
    no_cc = {k: v for k, v in CC.items() if k != "cc"}
    alice = Decision(
        "each", "U0ALICE", version=1, items=[{"type": "edit", "values": no_cc}, {"type": "approve"}]
    )
    w = world()
    w.engine.standing = alice
    shown = w.add(approval(graph="mailer", review=review, version=2))
    values = _as_untouched(
        modals.each_modal(replace(shown, review=review.with_values([no_cc, None])))
    )
    subject = block_of(review, "subject", call=1)
    values.update({"decision:0": "approve", "decision:1": "edit", subject: "Yo!"})
    views.each_submitted(w.ack, submission(w.seal(version=2), values), deps=w.deps)
    [(_, bob, _)] = w.engine.received
    first, second = adapters.answer(p, review, bob, MAILER).value["decisions"]
    assert first["edited_action"]["args"] == no_cc
    assert second["edited_action"]["args"] == {**OTHER, "subject": "Yo!"}


def test_review_each_approving_every_call_signs_the_standing_version_as_it_is():
    p = _tool_calls(CC, OTHER)
    review = adapters.describe(p, MAILER)
    no_cc = {k: v for k, v in CC.items() if k != "cc"}
    w = world()
    w.engine.standing = Decision(
        "each", "U0ALICE", items=[{"type": "edit", "values": no_cc}, {"type": "approve"}]
    )
    w.add(approval(graph="mailer", review=review, version=2))
    values = {"decision:0": "approve", "decision:1": "approve"}
    views.each_submitted(w.ack, submission(w.seal(version=2), values), deps=w.deps)
    [(_, bob, _)] = w.engine.received
    assert [item["type"] for item in bob.items] == ["approve", "approve"]  # an approve vote


# An argument's name can be longer than the 255 characters a block_id holds: inputs are found by
# their place in the form, so an edit to such an argument is what runs.
LONG = "destination_account_" + "x" * 260


def _long_named(*calls: dict) -> tuple[Pending, Review]:
    p = Pending("i-1", hitl_value(*(("transfer", args) for args in calls)))
    return p, adapters.describe(p, Context(graph="agent"))


def _showing(values: dict, shown: str) -> str:
    [block] = [block for block, value in values.items() if value == shown]
    return block


def test_an_edit_to_an_argument_with_a_long_name_is_what_runs():
    p, review = _long_named({LONG: "ATTACKER-ACCT", "amount": "10"})
    w = world()
    values = _as_untouched(modals.edit_modal(w.add(approval(graph="agent", review=review))))
    assert all(len(block) <= 255 for block in values)
    values[_showing(values, "ATTACKER-ACCT")] = "SAFE-ACCT"  # the input the approver changed
    views.edit_submitted(w.ack, submission(w.seal(), values), deps=w.deps)
    assert w.ack.calls == [{}]
    [(_, decision, _)] = w.engine.received
    [sent] = adapters.answer(p, review, decision, Context(graph="agent")).value["decisions"]
    assert sent["edited_action"]["args"] == {LONG: "SAFE-ACCT", "amount": "10"}


def test_review_each_edits_an_argument_with_a_long_name():
    p, review = _long_named({LONG: "ATTACKER-ACCT"}, {"amount": "10"})
    w = world()
    values = _as_untouched(modals.each_modal(w.add(approval(graph="agent", review=review))))
    account = _showing(values, "ATTACKER-ACCT")
    values.update({"decision:0": "edit", account: "SAFE", "decision:1": "approve"})
    views.each_submitted(w.ack, submission(w.seal(), values), deps=w.deps)
    [(_, decision, _)] = w.engine.received
    first, _ = adapters.answer(p, review, decision, Context(graph="agent")).value["decisions"]
    assert first["edited_action"]["args"] == {LONG: "SAFE"}


def test_an_error_in_a_long_named_field_is_shown_under_its_input():
    w = world()
    form = (FormField(LONG, "Account"), FormField("to", "To", kind="email"))
    review = Review("action", "Edit", (Proposal("transfer", choices=("edit",), form=form),))
    w.add(approval(review=review))
    values = {block_of(review, LONG): " ", block_of(review, "to"): "nope"}
    views.edit_submitted(w.ack, submission(w.seal(), values), deps=w.deps)
    assert set(errors(w)) == set(values)
    assert w.engine.received == []


@pytest.mark.parametrize("listener", [views.edit_submitted, views.each_submitted])
def test_a_form_whose_inputs_are_named_otherwise_is_refused_not_read_as_proposed(listener):
    # A form opened before an upgrade named its inputs by field: read now, it would seem to
    # leave every field as proposed, dropping the approver's edit.
    w = world()
    old = {"decision:0": "edit", "param:0:to": "boss@example.com", "decision:1": "approve"}
    w.add(approval(review=batch_review()))
    if listener is views.edit_submitted:
        old = {"param:text": "Hello, edited"}
        w.add(approval())  # a draft
    listener(w.ack, submission(w.seal(), old), deps=w.deps)
    assert list(errors(w).values()) == [views.UNKNOWN_FORM]
    assert w.engine.received == []


def test_review_each_reads_the_standing_edit_as_a_quick_read_and_says_when_it_cannot():
    """Review each reads the request's votes before its ack (the edit that stands is what an
    approval in it signs): under the limits of a read before an ack, and when that fails the
    modal says it was not recorded, and nothing is."""
    w = world()
    w.add(approval(review=batch_review()))
    values = {"decision:0": "approve", "decision:1": "approve"}
    views.each_submitted(w.ack, submission(w.seal(), values), deps=w.deps)
    assert w.engine.standing_reads == [(APPROVAL_ID, True)]
    w = world()
    w.add(approval(review=batch_review()))
    w.engine.votes_down = True
    views.each_submitted(w.ack, submission(w.seal(), values), deps=w.deps)
    assert w.ack.calls == [NOT_RECORDED]
    assert w.engine.received == []


def test_an_edit_opened_on_an_edit_that_emptied_a_field_does_not_bring_it_back():
    """Alice emptied cc (version 2 runs without it, the card shows none); Bob's Edit on that
    version starts from it: no cc in his form, none in what he sends."""
    p = _tool_calls(CC)
    review = adapters.describe(p, MAILER)
    no_cc = {k: v for k, v in CC.items() if k != "cc"}
    alice = Decision("edit", "U0ALICE", parameters=no_cc, version=1)
    w = world()
    w.engine.standing = alice
    w.add(approval(graph="mailer", review=review, version=2))
    actions.open_edit_form(w.ack, click(), deps=w.deps)  # as Bob's Edit click opens it
    (view,) = w.client.views
    values = _as_untouched(view)
    assert values.get(block_of(review, "cc")) in (None, "")
    values[block_of(review, "cc")] = None  # Slack sends an empty input as null
    values[block_of(review, "subject")] = "Hi all"
    views.edit_submitted(w.ack, submission(w.seal(version=2), values), deps=w.deps)
    [(_, bob, _)] = w.engine.received
    [sent] = adapters.answer(p, review, bob, MAILER).value["decisions"]
    assert sent["edited_action"]["args"] == {**no_cc, "subject": "Hi all"}
