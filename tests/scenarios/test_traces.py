"""Traces: with LangSmith tracing configured, every invocation of a run reaches LangSmith labelled
with the run (graph, requester, channel, run id) and, for a resume, with the decision, who took
it and through which door; the card and ``/agent status`` link to the trace. With tracing off,
LangSmith hears nothing and nothing shows a link.

LangSmith here is tests/fakes/langsmith.py, reached by the real LangChain tracer over HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from bot.slack.blocks import card as ids
from tests.fakes.langsmith import FakeLangSmith, metadata
from tests.support.cards import blocks_text, wait_card

REQ, BOSS = "U0REQ", "U0BOSS"
TEXT = "Tell the team the release is out"
RUN = re.compile(r"Run `([0-9a-f]{8})`")
LINK = re.compile(r"<(http://localhost/o/[^|>]+/r/([0-9a-f-]{36})\?poll=true)\|View the trace>")


@pytest.fixture
def smith() -> Iterator[FakeLangSmith]:
    with FakeLangSmith() as fake:
        yield fake


def _tracing(smith: FakeLangSmith, on: bool = True) -> dict[str, str]:
    env = {"LANGSMITH_ENDPOINT": smith.url, "LANGSMITH_API_KEY": smith.api_key}
    return {**env, "LANGSMITH_TRACING": "true"} if on else env


def _status(bot, fake_slack, run: str) -> str:
    before = len(fake_slack.calls("response_url"))
    bot.command(f"status {run}", user=REQ)
    return fake_slack.wait_for("response_url", count=before + 1)[-1].params["text"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_each_step_is_traced_with_the_run_and_the_decision_and_the_card_links_to_it(
    start_bot, fake_slack, smith
):
    bot = start_bot(APPROVERS=BOSS, **_tracing(smith))
    bot.command(TEXT, user=REQ)
    card = wait_card(fake_slack)

    # The card links to the trace of the step that asked, in the project LangSmith named.
    found = LINK.search(card.text)
    assert found, card.text
    url, trace_id = found.groups()
    assert f"/o/{smith.tenant_id}/projects/p/{smith.project_id()}/r/{trace_id}" in url
    started = smith.wait_for_run(lambda r: r["id"] == trace_id)
    assert not started.get("parent_run_id") and started["trace_id"] == trace_id
    labels = metadata(started)
    run_id = labels["run_id"]
    assert card.approval_id and len(run_id) == 32
    assert {k: labels[k] for k in ("graph", "requester", "channel", "thread_id", "step")} == {
        "graph": "draft",
        "requester": REQ,
        "channel": "C0REQ",
        "thread_id": run_id,
        "step": "start",
    }
    assert {"graph:draft", "step:start"} <= set(started["tags"])

    # Approved with the card's button: the resume is traced with the decision and its door.
    bot.click(ids.APPROVE, card.approval_id, BOSS)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == f"Draft: {TEXT}")
    resumed = smith.wait_for_run(
        lambda r: not r.get("parent_run_id") and metadata(r).get("step") == "resume"
    )
    labels = metadata(resumed)
    assert {
        k: labels[k] for k in ("run_id", "request_id", "decision", "decided_by", "door", "version")
    } == {
        "run_id": run_id,
        "request_id": card.approval_id,
        "decision": "approve",
        "decided_by": BOSS,
        "door": "button",
        "version": 1,
    }
    assert {"decision:approve", "door:button"} <= set(resumed["tags"])

    # /agent status links to the run's latest step: the resume.
    status = _status(bot, fake_slack, run_id[:8])
    assert f"/r/{resumed['id']}?poll=true|View the trace>" in status


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_with_tracing_off_langsmith_hears_nothing_and_nothing_links(start_bot, fake_slack, smith):
    bot = start_bot(APPROVERS=BOSS, **_tracing(smith, on=False))
    bot.command(TEXT, user=REQ)
    card = wait_card(fake_slack)
    assert "View the trace" not in card.text
    bot.click(ids.APPROVE, card.approval_id, BOSS)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == f"Draft: {TEXT}")
    status = _status(bot, fake_slack, RUN.search(card.text).group(1))
    assert "started by <@U0REQ>" in status, status
    assert "View the trace" not in status
    bot.stop()  # a traced bot sends what it holds on the way out: this one has nothing
    assert smith.requests() == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_langsmith_away_costs_the_card_its_link_and_nothing_else(start_bot, fake_slack, smith):
    env = _tracing(smith)
    bot = start_bot(APPROVERS=BOSS, **{**env, "LANGSMITH_API_KEY": "lsv2_pt_wrong"})
    bot.command(TEXT, user=REQ)
    card = wait_card(fake_slack)
    assert "View the trace" not in card.text
    assert "Draft" in blocks_text(card.blocks)
    bot.click(ids.APPROVE, card.approval_id, BOSS)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == f"Draft: {TEXT}")
    assert smith.runs() == []  # every call refused: nothing stored, nothing broke
