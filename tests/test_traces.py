"""bot.agents.traces: the labels of each invocation, and the links to their traces."""

from __future__ import annotations

import uuid

import pytest

from bot.agents import traces
from bot.config import traced_project
from bot.domain.models import Decision, Run

RUN = Run("a" * 32, "draft", "Say hi", "U0REQ", "C0REQ", "C0REQ", "waiting", None, 1.0, 1.0)


@pytest.mark.parametrize(
    ("decision", "door"),
    [
        (Decision("approve", "U0B", origin="message:C0REQ:1.2"), "button"),
        (Decision("edit", "U0B", origin=None), "modal"),
        (Decision("approve", "U0B", origin="view"), "home"),
        (Decision("approve", "U0B", via="api", on_behalf_of="desk"), "api"),
        (Decision("expire", "UBOT", expire_as="reject"), "scheduler"),
    ],
)
def test_each_door_is_named(decision, door):
    assert traces.door(decision) == door
    trace = traces.for_resume(RUN, "req1", decision)
    assert trace.metadata["door"] == door and f"door:{door}" in trace.tags
    assert trace.metadata["decision"] == decision.effective_type


def test_a_resume_on_behalf_names_both_and_every_signer():
    decision = Decision("approve", "U0B", via="api", on_behalf_of="desk", approvers=["U0A", "U0B"])
    labels = traces.for_resume(RUN, "req1", decision).metadata
    assert labels["approvers"] == ["U0A", "U0B"] and labels["on_behalf_of"] == "desk"
    assert labels["thread_id"] == labels["run_id"] == RUN.thread_id


def test_a_trace_labels_langchains_config_and_a_follow_up_gets_a_new_id():
    trace = traces.for_start(RUN)
    config = trace.config()
    assert config["run_id"] == uuid.UUID(trace.id) and config["run_name"] == "draft"
    assert config["metadata"]["step"] == "start" and "graph:draft" in config["tags"]
    again = trace.again()
    assert again.id != trace.id and again.metadata == trace.metadata


@pytest.mark.parametrize(
    ("env", "project"),
    [
        ({}, None),
        ({"LANGSMITH_TRACING": "true"}, "default"),
        ({"LANGSMITH_TRACING": "1"}, None),  # LangChain's tracer takes only "true"
        ({"LANGSMITH_TRACING": "True"}, None),
        ({"LANGCHAIN_TRACING_V2": "true", "LANGCHAIN_PROJECT": "bots"}, "bots"),
        ({"LANGSMITH_TRACING_V2": "false", "LANGSMITH_TRACING": "true"}, None),
        ({"LANGSMITH_TRACING": "true", "LANGSMITH_PROJECT": " "}, "default"),
    ],
)
def test_tracing_is_on_exactly_when_langchains_tracer_sends(env, project):
    assert traced_project(env) == project


def test_a_link_needs_tracing_on_and_a_trace():
    off = traces.langsmith_links(None)
    assert not off.enabled and off.url(uuid.uuid4().hex) is None


def test_the_project_is_asked_once_and_again_a_minute_after_a_failure():
    now = [0.0]
    answers: list[object] = [OSError("away"), traces.Project("https://smith", "t1", "p1")]

    def lookup() -> traces.Project:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    links = traces.TraceLinks(lookup, clock=lambda: now[0])
    trace = uuid.uuid4()
    assert links.url(trace.hex) is None  # LangSmith away: no link, no error
    now[0] = traces.RETRY_LOOKUP - 1
    assert links.url(trace.hex) is None and len(answers) == 1  # not asked again yet
    now[0] = traces.RETRY_LOOKUP + 1
    assert links.url(trace.hex) == f"https://smith/o/t1/projects/p/p1/r/{trace}?poll=true"
    assert links.url(None) is None
    assert links.url(trace.hex) is not None and answers == []  # found once, kept
