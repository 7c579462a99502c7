"""What goes into a graph and what the bot reports when it ends."""

from __future__ import annotations

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage

from bot.agents.outputs import inputs_for, report_of


# report_of --------------------------------------------------------------------------------
def test_the_settings_output_key_wins():
    values = {"final_order": "  Aspirin 100mg approved \n", "messages": [AIMessage("chat")]}
    assert report_of(values, "final_order") == "Aspirin 100mg approved"


@pytest.mark.parametrize("empty", [None, "", "   ", []])
def test_an_empty_output_key_says_so(empty):
    assert report_of({"result": empty, "report": "other"}, "result") == "Done (result is empty)."
    assert report_of({}, "result") == "Done (result is empty)."


def test_the_last_ai_message_is_the_report():
    values = {
        "messages": [
            HumanMessage("send it"),
            AIMessage("first answer"),
            ToolMessage("sent", tool_call_id="c1"),
            AIMessage("Sent the email to ops."),
            HumanMessage("thanks"),
        ],
        "report": "ignored",
    }
    assert report_of(values) == "Sent the email to ops."


def test_an_ai_message_without_text_is_passed_over():
    values = {
        "messages": [
            AIMessage("The earlier answer."),
            AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "c1"}]),
            AIMessage("   "),
        ]
    }
    assert report_of(values) == "The earlier answer."


@pytest.mark.parametrize(
    "message",
    [
        {"role": "assistant", "content": "Done by dict"},
        {"type": "ai", "content": "Done by dict"},
        {
            "role": "ai",
            "content": [{"type": "text", "text": "Done by "}, {"type": "text", "text": "dict"}],
        },
    ],
)
def test_dict_messages_count(message):
    values = {
        "messages": [{"role": "user", "content": "go"}, message, {"role": "user", "content": "x"}]
    }
    assert report_of(values) == "Done by dict"


def test_content_blocks_are_joined_and_non_text_blocks_dropped():
    message = AIMessage(
        content=[
            {"type": "text", "text": "Refunded "},
            {"type": "tool_use", "id": "t1", "name": "refund", "input": {}},
            "20 EUR",
        ]
    )
    assert report_of({"messages": [message]}) == "Refunded 20 EUR"


def test_user_messages_are_never_the_report():
    values = {"messages": [HumanMessage("please do it"), {"role": "user", "content": "and this"}]}
    assert report_of(values) == "Done."


@pytest.mark.parametrize(
    ("values", "report"),
    [
        ({"report": "R", "result": "S", "output": "O"}, "R"),
        ({"result": "S", "output": "O"}, "S"),
        ({"output": "O", "final_result": "F"}, "O"),
        ({"report": "  ", "result": None, "output": "O"}, "O"),
        ({"final_result": "Email sent", "other": "x"}, "Email sent"),
        ({"final_a": "", "final_b": "B"}, "B"),
        ({"result": 42}, "42"),
        ({"result": AIMessage("from a message")}, "from a message"),
        ({"messages": [], "result": "S"}, "S"),
        ({"messages": "not a list", "result": "S"}, "S"),
        ({"request": "x", "answer": "not a known key"}, "Done."),
        ({}, "Done."),
    ],
)
def test_then_the_usual_result_keys_in_order(values, report):
    assert report_of(values) == report


def test_an_ai_message_wins_over_result_keys():
    values = {"result": "S", "messages": [{"role": "assistant", "content": "from the model"}]}
    assert report_of(values) == "from the model"


# inputs_for -------------------------------------------------------------------------------
def test_a_messages_graph_gets_a_user_message():
    assert inputs_for(("messages",), "messages", "send the report", "U1", "C1") == {
        "messages": [{"role": "user", "content": "send the report"}]
    }


def test_the_request_goes_under_the_input_key():
    assert inputs_for(("drug_name",), "drug_name", "aspirin", "U1", "C1") == {
        "drug_name": "aspirin"
    }
    assert inputs_for((), "request", "x", "U1", "C1") == {"request": "x"}


def test_requester_and_channel_go_only_where_declared():
    declared = ("request", "requester", "channel", "other")
    assert inputs_for(declared, "request", "x", "U1", "C1") == {
        "request": "x",
        "requester": "U1",
        "channel": "C1",
    }
    assert inputs_for(("request", "channel"), "request", "x", "U1", "C1") == {
        "request": "x",
        "channel": "C1",
    }


def test_the_input_key_is_never_overwritten_by_context():
    assert inputs_for(("requester", "channel"), "requester", "the request", "U1", "C1") == {
        "requester": "the request",
        "channel": "C1",
    }
