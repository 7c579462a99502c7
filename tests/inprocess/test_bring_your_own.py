"""Graphs the bot did not write, plugged in with `langgraph.json` and declarative settings only:
the shapes of the tutorials (004's one-word gate, 002's breakpoint in front of a gate, 003's
update_state review with a revision loop), LangChain agents gated by HumanInTheLoopMiddleware
(batched and per_call), a response_schema form, an Agent Inbox request and two interrupts
pending at once. Each is driven over signed Slack requests, on SQLite and Postgres."""

from __future__ import annotations

import json

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.store.db.base import ACK_WINDOW
from tests.scenarios.conftest import BYO
from tests.support.byo import buttons, inputs, opened_view, ran, report, tool_messages
from tests.support.cards import blocks_text, current, has_buttons, wait_card, wait_cards
from tests.support.forms import by_name

REQ = "U0REQ"
EMAIL = {"to": "ops@example.com", "subject": "Q3", "body": "Numbers attached"}


# ---------------------------------------------------------------- tutorial 004's shape


def test_a_misspelt_graph_is_asked_about_and_starts_nothing(byo, fake_slack, effects):
    bot = byo()
    answer = bot.command("refnd refund order 42").json()["text"]  # `refund` and `refunds` exist
    assert answer.startswith("Did you mean `refund`? Nothing was started.")  # the closest
    started = bot.command("gate Delete inactive users").json()["text"]
    assert "with the *gate* graph" in started
    [card] = wait_cards(fake_slack, 1)  # one run, one card: the typo started nothing
    assert "Approve this plan?" in card.text


def test_a_one_word_gate_gets_approved_and_runs(byo, fake_slack, effects):
    bot = byo()
    started = bot.command("gate Delete inactive users")
    assert "with the *gate* graph" in started.json()["text"]
    card = wait_card(fake_slack)
    assert "Approve this plan?" in card.text and "Draft: Plan: Delete inactive users" in card.text
    bot.click(ids.APPROVE, card.approval_id, REQ)
    assert report(fake_slack, card) == "Executed: Draft: Plan: Delete inactive users"
    assert ran(effects, "004") == ["Draft: Plan: Delete inactive users"]
    assert not has_buttons(current(fake_slack, card))


def test_a_one_word_gate_hears_the_rejection_and_its_reason(byo, fake_slack, effects):
    bot = byo()
    bot.command("gate Delete inactive users")
    card = wait_card(fake_slack)
    bot.click(ids.REJECT, card.approval_id, REQ)
    assert opened_view(fake_slack)["callback_id"] == modals.REJECT
    bot.submit(modals.REJECT, card.approval_id, REQ, {modals.REASON_BLOCK: "too broad"})
    assert report(fake_slack, card) == "Run rejected by reviewer. Reason: rejected: too broad"
    assert ran(effects, "004") == []


# ---------------------------------------------------------------- tutorial 002's shape


def act_request(**params: str) -> str:
    proposal = {
        "action_type": "send_email",
        "description": "Mail the Q3 numbers",
        "parameters": params,
        "risk_level": "high",
    }
    return json.dumps(proposal)


def test_edited_parameters_reach_the_executor(byo, fake_slack, effects):
    bot = byo()
    bot.command("act " + act_request(**EMAIL))
    card = wait_card(fake_slack)
    assert len(wait_cards(fake_slack)) == 1  # the breakpoint is skipped: the gate asks
    assert "ops@example.com" in card.text
    bot.click(ids.EDIT, card.approval_id, REQ)
    view = opened_view(fake_slack)
    fields = inputs(view)
    assert {k: e.get("initial_value") for k, e in fields.items()} == by_name(EMAIL, EMAIL)
    edited = {"to": "cfo@example.com", "subject": "Q3 final", "body": "Final"}
    bot.submit(modals.EDIT, card.approval_id, REQ, by_name(EMAIL, edited))
    assert report(fake_slack, card) == "Email sent to cfo@example.com about Q3 final"
    assert ran(effects, "002") == [
        {"to": "cfo@example.com", "subject": "Q3 final", "body": "Final"}
    ]


def test_an_edit_path_naming_nothing_in_the_pause_takes_edit_off_the_card(
    bot_in_process, fake_slack, effects, tmp_path
):
    """A typo only the pause can reveal: no Edit of the whole value instead, the card says why,
    and a forged Edit click opens no editor."""
    text = (BYO / "policy.yaml").read_text()
    typo = text.replace("edit: proposed_action.parameters", "edit: proposed_action.paramters")
    (tmp_path / "policy.yaml").write_text(typo)
    bot = bot_in_process(
        LANGGRAPH_CONFIG=str(BYO / "langgraph.json"),
        POLICY_FILE=str(tmp_path / "policy.yaml"),
        BYO_EFFECTS=str(effects),
    )
    bot.command("act " + act_request(**EMAIL))
    card = wait_card(fake_slack)
    shown = current(fake_slack, card)
    assert buttons(shown) == ["Approve", "Reject"]
    assert (
        "not offered: the policy file's edit path (proposed_action.paramters) names nothing here"
        in blocks_text(shown["blocks"])
    )
    bot.click(ids.EDIT, card.approval_id, REQ)  # forged: the card has no such button
    view = opened_view(fake_slack)
    assert inputs(view) == {}
    assert "can only be approved or rejected" in blocks_text(view["blocks"])
    bot.click(ids.APPROVE, card.approval_id, REQ)
    assert report(fake_slack, card) == "Email sent to ops@example.com about Q3"
    assert ran(effects, "002") == [EMAIL]


def test_a_breakpoint_before_a_gate_asks_once(byo, fake_slack, effects):
    bot = byo()
    bot.command("act_ask " + act_request(**EMAIL))
    card = wait_card(fake_slack)
    assert card.blocks[0]["text"]["text"] == "⏸️ Paused before approval_gate"
    assert "proposed_action" in card.text  # the state the node will consume
    bot.click(ids.APPROVE, card.approval_id, REQ)
    assert report(fake_slack, card) == "Email sent to ops@example.com about Q3"
    assert ran(effects, "002") == [EMAIL]
    assert len(wait_cards(fake_slack)) == 1  # the gate's own interrupt was not asked again


def test_rejecting_at_a_breakpoint_runs_nothing(byo, fake_slack, effects):
    bot = byo()
    bot.command("act_ask " + act_request(**EMAIL))
    card = wait_card(fake_slack)
    bot.click(ids.REJECT, card.approval_id, REQ)
    bot.submit(modals.REJECT, card.approval_id, REQ, {modals.REASON_BLOCK: "no"})
    # Nothing after the breakpoint runs: not the gate, not the executor.
    assert report(fake_slack, card) == (
        "Rejected: no. The run stopped before `approval_gate`; nothing more was run."
    )
    assert "Rejected* by <@U0REQ>" in blocks_text(current(fake_slack, card)["blocks"])
    assert ran(effects, "002") == []


# ---------------------------------------------------------------- tutorial 003's shape


def test_request_changes_loops_back_with_a_new_card_then_approves(byo, fake_slack, effects):
    bot = byo()
    bot.command("order warfarin")
    first = wait_card(fake_slack)
    assert first.blocks[0]["text"]["text"] == "⏸️ Paused after analyze_drug"
    assert "Dosing for warfarin, version 1" in first.text
    message = current(fake_slack, first)
    assert buttons(message) == ["Approve", "Edit", "Reject", "Request changes"]

    bot.click(ids.CHOICE_PREFIX + "revise", first.approval_id, REQ)
    view = opened_view(fake_slack)
    assert view["callback_id"] == modals.CHOICE and list(inputs(view)) == [modals.NOTES_BLOCK]
    empty = bot.submit(modals.CHOICE, f"{first.approval_id}:revise", REQ, {modals.NOTES_BLOCK: ""})
    assert empty.json()["errors"] == {modals.NOTES_BLOCK: "Please fill this in."}
    bot.submit(modals.CHOICE, f"{first.approval_id}:revise", REQ, {"notes": "halve the dose"})

    second = wait_cards(fake_slack, 2)[1]
    assert "version 2 (revised for: halve the dose)" in second.text
    assert "Request changes* by <@U0REQ>" in blocks_text(current(fake_slack, first)["blocks"])
    bot.click(ids.APPROVE, second.approval_id, REQ)
    final = "APPROVED: Dosing for warfarin, version 2 (revised for: halve the dose)"
    assert report(fake_slack, second) == final
    assert ran(effects, "003") == [final]


# ---------------------------------------------------------------- LangChain HITL middleware


def mail_request() -> str:
    return "mailer email " + json.dumps(EMAIL)


def test_agent_tool_call_approved_runs_once(byo, fake_slack, fake_openai, effects):
    bot = byo()
    bot.command(mail_request())
    card = wait_card(fake_slack)
    assert card.blocks[0]["text"]["text"] == "🛠️ Tool call waiting for approval"
    assert "`send_email`" in card.text and "*to*: `ops@example.com`" in card.text
    bot.click(ids.APPROVE, card.approval_id, REQ)
    report(fake_slack, card)
    assert ran(effects, "email") == [EMAIL]


def test_agent_tool_call_edited_runs_once_with_the_edit(byo, fake_slack, effects):
    bot = byo()
    bot.command(mail_request())
    card = wait_card(fake_slack)
    bot.click(ids.EDIT, card.approval_id, REQ)
    fields = inputs(opened_view(fake_slack))
    # Typed inputs from the tool's own argument schema.
    assert list(fields) == list(by_name(EMAIL, EMAIL))
    values = by_name(EMAIL, {**EMAIL, "to": "cfo@example.com"})
    bot.submit(modals.EDIT, card.approval_id, REQ, values)
    report(fake_slack, card)
    assert ran(effects, "email") == [{**EMAIL, "to": "cfo@example.com"}]


def test_a_tool_with_one_text_argument_runs_with_the_edit(byo, fake_slack, effects):
    """A form whose only field is called ``text`` is still a tool's arguments, not a draft."""
    bot = byo()
    bot.command('poster post {"text": "hello"}')
    card = wait_card(fake_slack)
    bot.click(ids.EDIT, card.approval_id, REQ)
    assert list(inputs(opened_view(fake_slack))) == list(by_name(["text"], {"text": ""}))
    bot.submit(modals.EDIT, card.approval_id, REQ, by_name(["text"], {"text": "hello, edited"}))
    report(fake_slack, card)
    assert ran(effects, "post") == ["hello, edited"]


def test_agent_tool_call_rejected_tells_the_model_and_never_runs(
    byo, fake_slack, fake_openai, effects
):
    bot = byo()
    bot.command(mail_request())
    card = wait_card(fake_slack)
    bot.click(ids.REJECT, card.approval_id, REQ)
    bot.submit(modals.REJECT, card.approval_id, REQ, {modals.REASON_BLOCK: "not today"})
    report(fake_slack, card)
    assert ran(effects, "email") == []
    [told] = tool_messages(fake_openai)
    assert "User rejected the tool call for `send_email` with reason: not today" in told["content"]


def test_per_call_tool_approval_is_answered_by_interrupt_id(byo, fake_slack, effects):
    bot = byo()
    bot.command("mailer_each email " + json.dumps(EMAIL))
    card = wait_card(fake_slack)
    assert "`send_email`" in card.text
    assert buttons(current(fake_slack, card)) == ["Approve", "Edit", "Reject"]
    bot.click(ids.EDIT, card.approval_id, REQ)
    view = opened_view(fake_slack)
    values = {k: e.get("initial_value") for k, e in inputs(view).items()}
    edited = values | by_name(EMAIL, {"subject": "Q3 (edited)"})
    answered = bot.submit(modals.EDIT, card.approval_id, REQ, edited)
    assert answered.content in (b"", b"{}"), answered.text
    report(fake_slack, card)
    assert ran(effects, "email") == [{**EMAIL, "subject": "Q3 (edited)"}]


def test_per_call_approve_runs_once_and_reject_never_runs(byo, fake_slack, fake_openai, effects):
    bot = byo()
    bot.command("mailer_each email " + json.dumps(EMAIL))
    first = wait_card(fake_slack)
    bot.click(ids.APPROVE, first.approval_id, REQ)
    report(fake_slack, first)
    assert ran(effects, "email") == [EMAIL]

    other = {**EMAIL, "to": "all@example.com"}
    bot.command("mailer_each email " + json.dumps(other))
    second = wait_cards(fake_slack, 2)[1]
    bot.click(ids.REJECT, second.approval_id, REQ)
    bot.submit(modals.REJECT, second.approval_id, REQ, {modals.REASON_BLOCK: "too wide"})
    report(fake_slack, second)
    assert ran(effects, "email") == [EMAIL]  # the rejected call never ran
    [told] = tool_messages(fake_openai)
    assert "User rejected the tool call for `send_email` with reason: too wide" in told["content"]


def test_an_expired_tool_call_tells_the_model_nobody_answered(
    byo, fake_slack, fake_openai, effects
):
    bot = byo(EXPIRE_AFTER="2s", REMIND_AFTER="off")
    bot.command(mail_request())
    card = wait_card(fake_slack)
    bot.tick(advance=2 + ACK_WINDOW)  # the deadline has passed, and its ack window
    report(fake_slack, card)
    assert ran(effects, "email") == []
    [told] = tool_messages(fake_openai)
    assert "Nobody answered before the deadline" in told["content"]
    assert "⌛" in blocks_text(current(fake_slack, card)["blocks"])


# ---------------------------------------------------------------- other shapes


def test_a_response_schema_becomes_a_typed_form(byo, fake_slack, effects):
    bot = byo()
    bot.command("refund ticket 7")
    card = wait_card(fake_slack)
    assert buttons(current(fake_slack, card)) == ["Answer…"]
    bot.click(ids.ANSWER, card.approval_id, REQ)
    fields = inputs(opened_view(fake_slack))
    form = ("amount", "currency", "notify", "note")
    assert {k: e["type"] for k, e in fields.items()} == by_name(
        form,
        {
            "amount": "number_input",
            "currency": "static_select",
            "notify": "static_select",
            "note": "plain_text_input",
        },
    )
    pick = {"type": "static_select", "selected_option": {"value": "EUR"}}
    yes = {"type": "static_select", "selected_option": {"value": "true"}}
    bad = bot.submit(
        modals.ANSWER, card.approval_id, REQ, by_name(form, {"amount": "lots", "currency": pick})
    )
    assert bad.json()["errors"] == by_name(
        form, {"amount": "Enter a number.", "notify": "Notify can't be empty."}
    )
    good = by_name(form, {"amount": "12.5", "currency": pick, "notify": yes})
    bot.submit(modals.ANSWER, card.approval_id, REQ, good)
    assert report(fake_slack, card) == "Refunded 12.5 EUR"
    assert ran(effects, "refund") == [
        {"amount": 12.5, "currency": "EUR", "notify": True, "note": ""}
    ]


def test_an_agent_inbox_request_is_answered_with_a_human_response(byo, fake_slack, effects):
    bot = byo()
    bot.command("inbox ticket 9")
    card = wait_card(fake_slack)
    assert buttons(current(fake_slack, card)) == ["Approve", "Edit", "Respond", "Ignore"]
    bot.click(ids.RESPOND, card.approval_id, REQ)
    assert opened_view(fake_slack)["callback_id"] == modals.RESPOND
    bot.submit(modals.RESPOND, card.approval_id, REQ, {modals.MESSAGE_BLOCK: "already closed"})
    assert report(fake_slack, card) == "inbox said response"
    assert ran(effects, "inbox") == [{"type": "response", "args": "already closed"}]


def test_two_pending_interrupts_are_decided_one_by_one(byo, fake_slack, effects):
    bot = byo(APPROVERS="U0ANN,U0BOB")
    bot.command("two_keys deploy api")
    first, second = sorted(wait_cards(fake_slack, 2), key=lambda c: c.text)
    assert "key 1" in first.text and "key 2" in second.text
    bot.click(ids.APPROVE, first.approval_id, "U0ANN")
    fake_slack.wait_for(
        "chat.update", lambda c: "Approved* by <@U0ANN>" in blocks_text(c.params["blocks"])
    )
    assert has_buttons(current(fake_slack, second))  # still live, still undecided
    assert ran(effects, "join") == []
    # A late second click on the first card cannot answer the other interrupt.
    bot.click(ids.APPROVE, first.approval_id, "U0BOB")
    fake_slack.wait_for("chat.postEphemeral", lambda c: "already decided" in c.params["text"])
    assert has_buttons(current(fake_slack, second))
    bot.click(ids.REJECT, second.approval_id, "U0BOB")
    bot.submit(modals.REJECT, second.approval_id, "U0BOB", {modals.REASON_BLOCK: None})
    fake_slack.wait_for("chat.postMessage", lambda c: "thread_ts" in c.params)
    assert ran(effects, "join") == [["deploy api / key 1: approve", "deploy api / key 2: reject"]]
