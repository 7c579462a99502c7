"""FakeOpenAI answers with several tool calls in one assistant message (parallel tool calls),
as the real API does, seen through the real ``langchain_openai`` client."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from tests.fakes import FakeOpenAI
from tests.fakes.openai_replies import Reply, completion, tool_calls_of

CALL_ID = re.compile(r"^call_[0-9a-f]{24}$")
FIRST = {"to": "ops@example.com", "subject": "Q3", "body": "Numbers attached"}
SECOND = {"to": "cfo@example.com", "subject": "Q4", "body": "Forecast"}


@tool
def send_email(to: str, subject: str, body: str) -> str:
    """Send an email."""
    return f"sent to {to}"


@tool
def lookup(name: str) -> str:
    """Look someone up."""
    return name


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def llm(openai_server: FakeOpenAI) -> ChatOpenAI:
    openai_server.reset()
    return ChatOpenAI(
        model="gpt-4o-mini",
        base_url=openai_server.base_url,
        api_key="sk-test",
        timeout=10,
        max_retries=0,
    )


def test_several_tool_calls_in_one_assistant_message(
    openai_server: FakeOpenAI, llm: ChatOpenAI
) -> None:
    ids = openai_server.enqueue(
        tool_calls=[
            {"name": "send_email", "arguments": FIRST},
            {"name": "lookup", "arguments": {"name": "Ann"}},
            {"name": "send_email", "arguments": SECOND},
        ]
    )
    assert len(ids) == 3 and len(set(ids)) == 3 and all(CALL_ID.match(i) for i in ids)
    agent = llm.bind_tools([send_email, lookup])
    answer = agent.invoke("mail both")
    assert isinstance(answer, AIMessage) and answer.content == ""
    assert answer.response_metadata["finish_reason"] == "tool_calls"
    assert [(c["name"], c["args"], c["id"]) for c in answer.tool_calls] == [
        ("send_email", FIRST, ids[0]),
        ("lookup", {"name": "Ann"}, ids[1]),
        ("send_email", SECOND, ids[2]),
    ]
    assert answer.invalid_tool_calls == []

    # The agent loop goes on: one ToolMessage per call, then the scripted plain answer.
    replies = [ToolMessage(f"done {i}", tool_call_id=i) for i in ids]
    final = agent.invoke([HumanMessage("mail both"), answer, *replies])
    assert final.content == "Draft: mail both" and not final.tool_calls
    sent = openai_server.requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "tool", "tool"]
    assert [c["id"] for c in sent[1]["tool_calls"]] == ids
    assert [m["tool_call_id"] for m in sent[2:]] == ids


def test_the_raw_answer_is_shaped_like_openais() -> None:
    calls = tool_calls_of(
        [{"name": "send_email", "arguments": FIRST, "id": "call_mine"}, {"name": "lookup"}]
    )
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    result = completion(body, Reply(tool_calls=calls))
    [choice] = result["choices"]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert choice["message"]["tool_calls"] == [
        {
            "id": "call_mine",
            "type": "function",
            "function": {"name": "send_email", "arguments": json.dumps(FIRST)},
        },
        {"id": calls[1].id, "type": "function", "function": {"name": "lookup", "arguments": "{}"}},
    ]
    # A model told not to call tools in parallel calls at most one.
    single = completion({**body, "parallel_tool_calls": False}, Reply(tool_calls=calls))
    assert [c["id"] for c in single["choices"][0]["message"]["tool_calls"]] == ["call_mine"]


def test_streamed_and_verbatim_arguments(openai_server: FakeOpenAI, llm: ChatOpenAI) -> None:
    agent = llm.bind_tools([send_email, lookup])
    openai_server.enqueue(
        tool_calls=[
            {"name": "send_email", "arguments": SECOND},
            {"name": "lookup", "arguments": {"name": "Bob"}},
        ]
    )
    chunks = list(agent.stream("stream them"))
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [
        ("send_email", SECOND),
        ("lookup", {"name": "Bob"}),
    ]
    assert merged.response_metadata["finish_reason"] == "tool_calls"

    [broken] = openai_server.enqueue(
        content="Let me check.", tool_calls=[{"name": "lookup", "arguments": '{"name": '}]
    )
    answer = agent.invoke("broken")
    assert answer.content == "Let me check." and answer.tool_calls == []
    assert [c["id"] for c in answer.invalid_tool_calls] == [broken]


def test_enqueue_refuses_malformed_tool_calls(openai_server: FakeOpenAI) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        openai_server.enqueue(tool_calls=[])
    with pytest.raises(ValueError, match="name"):
        openai_server.enqueue(tool_calls=[{"arguments": {}}])
    with pytest.raises(ValueError, match="unknown"):
        openai_server.enqueue(tool_calls=[{"name": "x", "args": {}}])
    with pytest.raises(ValueError, match="content only"):
        openai_server.enqueue(tool_calls=[{"name": "x"}], status=500)
