"""A LangChain agent proposing several tool calls in one model turn, gated by
HumanInTheLoopMiddleware in batched mode: one card for the whole batch, decided all at once or
call by call in a "Review each…" form; and a single call answered with "Respond" in the tool's
place. Driven over signed Slack requests, on SQLite and Postgres."""

from __future__ import annotations

from typing import Any

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from tests.scenarios.conftest import BYO
from tests.support.byo import buttons, inputs, opened_view, ran, report, tool_messages
from tests.support.cards import blocks_text, current, has_buttons, wait_card, wait_shown
from tests.support.forms import by_name

REQ = "U0REQ"
FIRST = {"to": "ops@example.com", "subject": "Q3", "body": "Numbers attached"}
SECOND = {"to": "cfo@example.com", "subject": "Q4", "body": "Forecast"}
TWO_EMAILS = [
    {"name": "send_email", "arguments": FIRST},
    {"name": "send_email", "arguments": SECOND},
]
DONE = "Sent what you allowed."


def pick(value: str | None) -> dict[str, Any]:
    """A static_select's state in a view submission (None: nothing chosen)."""
    option = {"text": {"type": "plain_text", "text": value}, "value": value} if value else None
    return {"type": "static_select", "selected_option": option}


def propose(fake_openai, calls: list[dict[str, Any]]) -> list[str]:
    """The model's first turn calls these tools, its next one ends the run with DONE."""
    call_ids = fake_openai.enqueue(tool_calls=calls)
    fake_openai.enqueue(DONE)
    return call_ids


def told_per_call(fake_openai) -> dict[str, str]:
    """What the model's last request says each tool call gave, by call id (one message each)."""
    told = tool_messages(fake_openai)
    assert len({m["tool_call_id"] for m in told}) == len(told)
    return {m["tool_call_id"]: m["content"] for m in told}


def decided_text(fake_slack, card) -> str:
    message = current(fake_slack, card)
    assert not has_buttons(message)
    return blocks_text(message["blocks"])


def test_a_batch_is_reviewed_call_by_call(byo, fake_slack, fake_openai, effects):
    call_ids = propose(fake_openai, TWO_EMAILS)
    bot = byo()
    bot.command("mailer_all mail the quarter numbers")
    card = wait_card(fake_slack)
    assert card.blocks[0]["text"]["text"] == "🛠️ 2 tool calls to review"
    assert "*1. `send_email`*" in card.text and "*2. `send_email`*" in card.text
    assert "*to*: `ops@example.com`" in card.text and "*to*: `cfo@example.com`" in card.text
    assert buttons(current(fake_slack, card)) == ["Approve all", "Review each…", "Reject all"]

    bot.click(ids.EACH, card.approval_id, REQ)
    view = opened_view(fake_slack)
    assert view["callback_id"] == modals.EACH and fake_slack.calls("views.open")[0].ok
    fields = inputs(view)
    assert list(fields) == [
        *("decision:0", *by_name(SECOND, SECOND, call=0), "message:0"),
        *("decision:1", *by_name(SECOND, SECOND, call=1), "message:1"),
    ]
    choices = [o["text"]["text"] for o in fields["decision:1"]["options"]]
    assert choices == ["Approve", "Approve with my edits", "Respond instead", "Reject"]
    shown = by_name(SECOND, {k: k for k in SECOND}, call=1)
    assert {k: fields[block]["initial_value"] for block, k in shown.items()} == SECOND

    edit_first = {"decision:0": pick("edit")} | by_name(SECOND, {"to": "boss@example.com"}, 0)
    undecided = bot.submit(
        modals.EACH, card.approval_id, REQ, edit_first | {"decision:1": pick(None)}
    )
    assert undecided.json() == {
        "response_action": "errors",
        "errors": {"decision:1": "Choose what to do with this call."},
    }
    silent = edit_first | {"decision:1": pick("respond"), "message:1": "  "}
    assert bot.submit(modals.EACH, card.approval_id, REQ, silent).json()["errors"] == {
        "message:1": "Write the answer to send back."
    }
    assert ran(effects, "email") == [] and len(fake_openai.requests) == 1
    assert has_buttons(current(fake_slack, card))

    good = edit_first | {"decision:1": pick("reject"), "message:1": "not the forecast"}
    answered = bot.submit(modals.EACH, card.approval_id, REQ, good)
    assert answered.content in (b"", b"{}"), answered.text
    assert report(fake_slack, card) == DONE
    assert ran(effects, "email") == [{**FIRST, "to": "boss@example.com"}]

    # One ToolMessage per call (the middleware adds the rejection's before the tool's own).
    told = told_per_call(fake_openai)
    assert sorted(told) == sorted(call_ids)
    assert told[call_ids[0]].endswith("sent to boss@example.com")
    assert "boss@example.com" in told[call_ids[0]]
    assert told[call_ids[1]] == (
        "User rejected the tool call for `send_email` with reason: not the forecast"
    )
    text = decided_text(fake_slack, card)
    assert current(fake_slack, card)["blocks"][0]["text"]["text"] == "🛠️ 2 tool calls: decided"
    assert "☑️ *Decided* by <@U0REQ>" in text and "1. edited  2. rejected" in text
    # The decided card's arguments are those that ran, not those proposed.
    assert "*to*: `boss@example.com`" in text and "*to*: `ops@example.com`" not in text
    assert len(fake_openai.requests) == 2


def test_approve_all_runs_every_call_once(byo, fake_slack, fake_openai, effects):
    call_ids = propose(fake_openai, TWO_EMAILS)
    bot = byo()
    bot.command("mailer_all mail the quarter numbers")
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, REQ)
    assert report(fake_slack, card) == DONE
    # Both ran once, in parallel (the agent's tool node runs a turn's calls concurrently).
    assert sorted(ran(effects, "email"), key=lambda e: e["subject"]) == [FIRST, SECOND]
    assert told_per_call(fake_openai) == {
        call_ids[0]: "sent to ops@example.com",
        call_ids[1]: "sent to cfo@example.com",
    }
    assert current(fake_slack, card)["blocks"][0]["text"]["text"] == "🛠️ 2 tool calls: approved"
    assert "✅ *Approved* by <@U0REQ>" in decided_text(fake_slack, card)
    assert len(fake_openai.requests) == 2


def test_a_reviewer_responds_in_the_tools_place(byo, fake_slack, fake_openai, effects):
    [call_id] = propose(fake_openai, TWO_EMAILS[:1])
    bot = byo()
    bot.command("mailer_all mail the quarter numbers")
    card = wait_card(fake_slack)
    assert card.blocks[0]["text"]["text"] == "🛠️ Tool call waiting for approval"
    assert buttons(current(fake_slack, card)) == ["Approve", "Edit", "Respond", "Reject"]

    bot.click(ids.RESPOND, card.approval_id, REQ)
    view = opened_view(fake_slack)
    assert view["callback_id"] == modals.RESPOND and list(inputs(view)) == [modals.MESSAGE_BLOCK]
    assert fake_slack.calls("views.open")[0].ok
    empty = bot.submit(modals.RESPOND, card.approval_id, REQ, {modals.MESSAGE_BLOCK: " "})
    assert empty.json()["errors"] == {modals.MESSAGE_BLOCK: "Write an answer."}
    answer = "Ops already has the numbers; no need to mail them."
    sent = bot.submit(modals.RESPOND, card.approval_id, REQ, {modals.MESSAGE_BLOCK: answer})
    assert sent.content in (b"", b"{}"), sent.text

    assert report(fake_slack, card) == DONE
    assert ran(effects, "email") == []
    [told] = tool_messages(fake_openai)
    assert (told["tool_call_id"], told["content"]) == (call_id, answer)
    assert current(fake_slack, card)["blocks"][0]["text"]["text"] == "🛠️ Tool call: responded"
    assert "💬 *Answered* by <@U0REQ>" in decided_text(fake_slack, card)
    assert answer in decided_text(fake_slack, card)


def test_an_api_edit_on_a_standing_edit_keeps_its_values_for_the_fields_it_leaves_out(
    bot_in_process, fake_slack, fake_openai, effects, tmp_path
):
    """Two of three sign send_email. Alice corrects the recipient in Slack (version 2); Bob,
    through the API, changes only the subject of version 2: the recipient is Alice's, not the
    agent's she removed, as in Slack's Edit form, and that is what runs."""
    alice, bob, carol = "U0ALICE", "U0BOB", "U0CAROL"
    call = {"to": "everyone@example.com", "subject": "Q3", "body": "Numbers attached"}
    propose(fake_openai, [{"name": "send_email", "arguments": call}])
    policy = (BYO / "policy.yaml").read_text()
    policy += f"\nactions:\n  send_email: {{approvers: [{alice}, {bob}, {carol}], quorum: 2}}\n"
    (tmp_path / "policy.yaml").write_text(policy)
    token = "bob-token-0123456789abcdef"
    bot = bot_in_process(
        LANGGRAPH_CONFIG=str(BYO / "langgraph.json"),
        POLICY_FILE=str(tmp_path / "policy.yaml"),
        BYO_EFFECTS=str(effects),
        REMIND_AFTER="off",
        API_TOKENS=f"bob:{token}:{bob}",
    )
    bot.command("mailer mail the quarter numbers")
    card = wait_card(fake_slack)
    bot.click(ids.EDIT, card.approval_id, alice)
    fake_slack.wait_for("views.open")
    values = by_name(["to", "subject", "body"], {**call, "to": "ops@example.com"})
    assert bot.submit(modals.EDIT, card.approval_id, alice, values).status_code == 200
    assert "ops@example.com" in wait_shown(fake_slack, card, f"Version 2, edited by <@{alice}>")

    run = card.text.split("Run `")[1].split("`")[0]
    answer = bot.http.post(
        f"/api/runs/{run}/decision",
        json={"decision": "edit", "version": 2, "values": {"subject": "Q3 numbers"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert answer.status_code in (200, 202), answer.text
    shown = wait_shown(fake_slack, card, f"Version 3, edited by <@{bob}>")
    assert "ops@example.com" in shown and "everyone@example.com" not in shown

    bot.click(ids.APPROVE, card.approval_id, carol)
    report(fake_slack, card)
    assert ran(effects, "email") == [{**call, "to": "ops@example.com", "subject": "Q3 numbers"}]
