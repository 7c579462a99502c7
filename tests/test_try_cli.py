"""``python -m bot try``: a registered graph run in the terminal, decided at the prompt through
the bot's own adapters and settings, with no Slack at all."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.cli.terminal import menu, options, pick, render_review
from bot.cli.try_graph import main
from bot.domain.review import Choice, Proposal, Review
from tests.fakes.openai import FakeOpenAI
from tests.support.policies import BAD_POLICIES, policy_file, refusal

ROOT = Path(__file__).resolve().parents[1]
BYO = ROOT / "tests" / "byo"
Run = Callable[..., tuple[int, str]]


@pytest.fixture
def openai(fake_openai: FakeOpenAI) -> FakeOpenAI:
    # The test process's one fake (tests/conftest.py): the test graphs build their model when
    # their module is first imported, and the registry imports a module once per process, so
    # a graph another test file imported first talks to this same server.
    return fake_openai


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], list[dict]]:
    path = tmp_path / "effects.jsonl"
    monkeypatch.setenv("BYO_EFFECTS", str(path))

    def read() -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    return read


@pytest.fixture
def run(openai: FakeOpenAI, effects: object, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``run("gate", "request", answers="a\\n")`` -> (exit code, everything printed)."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    monkeypatch.setenv("OPENAI_BASE_URL", openai.base_url)
    monkeypatch.setenv("LANGGRAPH_CONFIG", str(BYO / "langgraph.json"))
    monkeypatch.setenv("POLICY_FILE", str(BYO / "policy.yaml"))
    openai.reset()

    def go(*argv: str, answers: str = "") -> tuple[int, str]:
        out = io.StringIO()
        code = main(list(argv), stdin=io.StringIO(answers), stdout=out, env=os.environ)
        return code, out.getvalue()

    return go


def kinds(effects: Callable[[], list[dict]]) -> list[str]:
    return [e["kind"] for e in effects()]


def test_gate_approved_runs_and_reports(run: Run, effects) -> None:
    code, out = run("gate", "ship the release", answers="a\n")
    assert code == 0
    assert "Approval needed: gate" in out
    assert "plan: Draft: Plan: ship the release" in out
    assert "[a] Approve" in out and "[r] Reject" in out
    assert "Executed: Draft: Plan: ship the release" in out
    assert kinds(effects) == ["004"]


def test_gate_rejected_with_a_reason_runs_nothing(run: Run, effects) -> None:
    code, out = run("gate", "ship the release", answers="r\ntoo risky\n")
    assert code == 0
    assert "Run rejected by reviewer. Reason: rejected: too risky" in out
    assert effects() == []


def test_order_sent_back_for_changes_then_approved(run: Run, effects) -> None:
    code, out = run("order", "aspirin", answers="revise\nlower dose\na\n")
    assert code == 0
    assert out.count("Paused after analyze_drug") == 2
    assert "[revise] Request changes" in out
    assert "Dosing for aspirin, version 2 (revised for: lower dose)" in out
    assert "APPROVED: Dosing for aspirin, version 2 (revised for: lower dose)" in out
    assert kinds(effects) == ["003"]


def test_refund_form_reasks_a_bad_number(run: Run, effects) -> None:
    # amount, currency, notify, note (Enter keeps its default), then the amount again.
    code, out = run("refund", "ticket 7", answers="n\nabc\nEUR\nyes\n\n12.5\n")
    assert code == 0
    assert "Input needed: refund" in out
    assert "! Enter a number." in out
    assert "Refunded 12.5 EUR" in out
    assert effects() == [
        {
            "kind": "refund",
            "detail": {"amount": 12.5, "currency": "EUR", "notify": True, "note": ""},
        }
    ]


def test_a_decision_at_a_breakpoint_also_answers_the_gate(run: Run, effects) -> None:
    request = json.dumps(
        {
            "action_type": "send_email",
            "description": "mail the team",
            "parameters": {"to": "team@example.com", "subject": "hi"},
            "risk_level": "high",
        }
    )
    code, out = run("act_ask", request, answers="a\n")
    assert code == 0
    assert out.count("Your choice:") == 1
    assert "Paused before approval_gate" in out
    assert "Email sent to team@example.com about hi" in out
    assert kinds(effects) == ["002"]


def test_a_batch_of_tool_calls_decided_one_by_one(run: Run, openai: FakeOpenAI, effects) -> None:
    mail = {"to": "a@example.com", "subject": "hi", "body": "hello"}
    openai.enqueue(
        tool_calls=[
            {"name": "send_email", "arguments": mail},
            {"name": "send_email", "arguments": {**mail, "to": "b@example.com"}},
        ]
    )
    # Review each: edit the first (new address, Enter keeps subject and body), reject the second.
    answers = "d\ne\nc@example.com\n\n\nr\nnot this one\n"
    code, out = run("mailer", "mail both", answers=answers)
    assert code == 0
    assert "2 tool calls to review" in out
    assert "[a] Approve all  [d] Review each  [r] Reject all" in out
    assert effects() == [
        {"kind": "email", "detail": {"to": "c@example.com", "subject": "hi", "body": "hello"}}
    ]
    told = [m["content"] for m in openai.requests[-1]["messages"] if m["role"] == "tool"]
    assert any("not this one" in text for text in told)


def test_unknown_graph_lists_the_registered_ones(run: Run, effects) -> None:
    code, out = run("nope", "anything")
    assert code == 2
    assert "Unknown graph 'nope'" in out
    for name in ("gate", "order", "refund", "inbox"):
        assert f"  {name}  " in out


def test_missing_request_is_a_usage_error(run: Run) -> None:
    code, out = run("gate")
    assert code == 2
    assert 'Usage: python -m bot try <graph> "<request>"' in out
    assert "  gate  " in out


def test_end_of_input_stops_without_a_decision(run: Run, effects) -> None:
    code, out = run("gate", "ship the release", answers="")
    assert code == 1
    assert "Stopped: no decision." in out
    assert effects() == []


def test_a_bad_config_is_reported(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANGGRAPH_CONFIG", str(BYO / "missing.json"))
    code, out = run("gate", "x")
    assert code == 2
    assert out.startswith("Configuration error: LANGGRAPH_CONFIG:")


def test_try_outside_the_project_root_says_where_to_run_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No LANGGRAPH_CONFIG and no langgraph.json where it is run: the error says where it looked
    and the two ways out, not only that it cannot read the file."""
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    code = main(["draft", "hello"], io.StringIO(), out, {"OPENAI_API_KEY": "sk-test"})
    assert code == 2
    said = out.getvalue()
    assert said.startswith("Configuration error: LANGGRAPH_CONFIG: langgraph.json: cannot read")
    assert f"No such file or directory in {tmp_path}" in said, said
    assert "run it from the project's root, or set LANGGRAPH_CONFIG to the file's path" in said


@pytest.mark.parametrize(("text", "said"), BAD_POLICIES)
def test_a_policy_file_the_bot_refuses_is_refused_the_same_way(tmp_path: Path, text, said) -> None:
    path = policy_file(tmp_path, text)
    env = {"LANGGRAPH_CONFIG": str(ROOT / "langgraph.json"), "OPENAI_API_KEY": "sk-test"}
    out = io.StringIO()
    code = main(["draft", "hello"], io.StringIO("a\n"), out, {**env, "POLICY_FILE": str(path)})
    assert code == 2
    assert out.getvalue() == f"Configuration error: {refusal(path, said)}\n"


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("defaults: {expire_afer: 1h}", "defaults.expire_afer: unknown key; did you mean"),
        ("graphs: {draft: {approvers: [alice]}}", "graphs.draft.approvers: alice is not a user"),
        ("graphs: {draft: {approvers: [U0A, U0B], quorum: 3}}", "graphs.draft: needs 3 people"),
    ],
)
def test_try_checks_what_it_used_to_let_through(tmp_path: Path, text, said) -> None:
    """Sign-offs and expiry are checked too, though `try` itself never counts votes."""
    path = policy_file(tmp_path, text)
    env = {"LANGGRAPH_CONFIG": str(ROOT / "langgraph.json"), "OPENAI_API_KEY": "sk-test"}
    out = io.StringIO()
    code = main(["draft", "hello"], io.StringIO(), out, {**env, "POLICY_FILE": str(path)})
    assert code == 2
    assert out.getvalue().startswith(f"Configuration error: POLICY_FILE: {path}: {said}")


def test_python_m_bot_try_refuses_a_misspelt_action(tmp_path: Path) -> None:
    path = policy_file(tmp_path, "actions:\n  send_emial: {quorum: 2}\n")
    env = {
        **os.environ,
        "LANGGRAPH_CONFIG": str(ROOT / "langgraph.json"),
        "OPENAI_API_KEY": "sk-test",
        "POLICY_FILE": str(path),
    }
    done = subprocess.run(
        [sys.executable, "-m", "bot", "try", "draft", "hello"],
        cwd=ROOT,
        env=env,
        input="a\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout.startswith(
        f"Configuration error: POLICY_FILE: {path}: actions.send_emial: no registered graph has "
        "an action or tool called send_emial; did you mean send_email?"
    )


def test_an_edit_path_naming_nothing_in_the_pause_offers_no_edit_and_says_why(
    run: Run, effects, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the pause can tell that `proposed_action.paramters` names nothing: its card has no
    Edit (never a form of the whole value), and says why."""
    text = (BYO / "policy.yaml").read_text()
    typo = text.replace("edit: proposed_action.parameters", "edit: proposed_action.paramters")
    assert typo != text
    monkeypatch.setenv("POLICY_FILE", str(policy_file(tmp_path, typo)))
    request = json.dumps(
        {
            "action_type": "send_email",
            "description": "mail the team",
            "parameters": {"to": "team@example.com", "subject": "hi"},
            "risk_level": "high",
        }
    )
    code, out = run("act", request, answers="e\na\n")
    assert code == 0
    assert (
        "Edit: not offered: the policy file's edit path (proposed_action.paramters) names "
        "nothing here"
    ) in out
    assert "[a] Approve  [r] Reject" in out and "[e] Edit" not in out
    assert "! Choose one of: [a] Approve  [r] Reject" in out  # "e" is no choice
    assert "Email sent to team@example.com about hi" in out
    assert kinds(effects) == ["002"]


def test_shipped_draft_graph_prints_what_it_would_post(
    openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "LANGGRAPH_CONFIG": str(ROOT / "langgraph.json"),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": openai.base_url,
    }
    out = io.StringIO()
    code = main(["draft", "tell", "the", "team", "hi"], io.StringIO("a\n"), out, env)
    text = out.getvalue()
    assert code == 0
    assert "Draft waiting for approval" in text
    assert "(would post to #try: Draft: tell the team hi)" in text
    assert "Approved. Would have posted to #try" in text


def test_a_batch_offers_approve_all_review_each_reject_all_and_extras() -> None:
    proposals = (
        Proposal("send_email", choices=("approve", "edit", "reject")),
        Proposal("send_email", choices=("approve", "reject")),
    )
    review = Review("hitl", "2 tool calls", proposals, extra=(Choice("hold", "Hold it"),))
    entries = options(review)
    assert menu(entries) == "[a] Approve all  [d] Review each  [r] Reject all  [hold] Hold it"
    assert [pick(entries, typed) for typed in ("A", "each", "hold it", "x")] == [
        "approve",
        "each",
        "hold",
        None,
    ]
    shown = render_review(review, "mail both")
    assert "1. send_email" in shown and "2. send_email" in shown


def test_the_shipped_actions_only_say_what_they_would_do_whatever_the_shell_holds(
    openai: FakeOpenAI, fake_smtp
) -> None:
    """A newcomer's shell (or langgraph.json's env file) may hold a real SMTP_URL: trying a
    graph still mails nobody."""
    env = {
        "LANGGRAPH_CONFIG": str(ROOT / "langgraph.json"),
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": openai.base_url,
        "SMTP_URL": fake_smtp.url,
        "EMAIL_FROM": "agent@example.com",
    }
    action = {
        "action_type": "send_email",
        "description": "mail ops",
        "parameters": [
            {"name": "to", "value": "ops@example.com"},
            {"name": "subject", "value": "Backup"},
            {"name": "body", "value": "done"},
        ],
        "risk_level": "low",
    }
    out = io.StringIO()
    code = main(["action", json.dumps(action)], io.StringIO("a\n"), out, env)
    text = out.getvalue()
    assert code == 0, text
    assert "(would send_email: to='ops@example.com', subject='Backup', body='done')" in text
    assert "Would have run send_email (try mode: nothing was sent)" in text
    assert fake_smtp.messages == []


@pytest.mark.parametrize(
    "sign_off",
    [
        "    approvers: [U0A, U0B]\n    quorum: 2\n",
        "    stages:\n      - {name: One, approvers: [U0A]}\n"
        "      - {name: Two, approvers: [U0B]}\n",
    ],
    ids=["quorum", "stages"],
)
def test_a_pause_the_policy_gives_to_several_people_is_not_decided_by_one(
    run: Run, effects, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sign_off: str
) -> None:
    """try decides as one person: a pause two must sign stops the run, nothing decided or run
    (as its help says), rather than one keypress running the graph's effect."""
    policy = (BYO / "policy.yaml").read_text()
    marker = "  gate:                      # tutorial 004's shape\n"
    assert marker in policy
    (tmp_path / "policy.yaml").write_text(policy.replace(marker, marker + sign_off))
    monkeypatch.setenv("POLICY_FILE", str(tmp_path / "policy.yaml"))
    code, out = run("gate", "plan the move", answers="a\n")
    assert code == 1
    assert "asks more than one person to sign this pause" in out
    assert "Executed" not in out and effects() == []


PAIRS = """
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field, field_validator


class S(TypedDict, total=False):
    request: str
    result: str


class Seats(BaseModel):
    count: int = Field(ge=1, le=10, description="How many seats (1-10)")


class Pairs(Seats):
    @field_validator("count")
    @classmethod
    def in_pairs(cls, count: int) -> int:
        if count % 2:
            raise ValueError(f"seats come in pairs, not {count}")
        return count


def by_the_node(state: S) -> dict:
    seats = interrupt({"ticket": state["request"]}, response_schema=Seats)
    if seats.count % 2:
        raise ValueError(f"seats come in pairs, not {seats.count}")
    return {"result": f"booked {seats.count}"}


def by_the_schema(state: S) -> dict:
    seats = interrupt({"ticket": state["request"]}, response_schema=Pairs)
    return {"result": f"booked {seats.count}"}


def build(node):
    g = StateGraph(S)
    g.add_node("ask", node)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g


def node_refuses():
    return build(by_the_node)


def schema_refuses():
    return build(by_the_schema)
"""


@pytest.mark.parametrize("graph", ["node_refuses", "schema_refuses"])
def test_an_answer_the_graph_refuses_is_said_and_asked_again(tmp_path: Path, graph: str) -> None:
    """As in Slack: the graph's own code (the node, or its response_schema's validator) refusing
    an answer does not end the run; try says why, and asks again."""
    (tmp_path / "try_pairs.py").write_text(PAIRS)
    config = {"dependencies": ["."], "graphs": {graph: f"./try_pairs.py:{graph}"}}
    (tmp_path / "langgraph.json").write_text(json.dumps(config))
    (tmp_path / "policy.yaml").write_text("graphs: {}\n")
    env = {
        "LANGGRAPH_CONFIG": str(tmp_path / "langgraph.json"),
        "POLICY_FILE": str(tmp_path / "policy.yaml"),
    }
    out = io.StringIO()
    code = main([graph, "ticket 7"], io.StringIO("n\n3\nn\n4\n"), out, env)
    text = out.getvalue()
    assert "The run failed" not in text
    said = text.split("The graph refused that answer: ", 1)[1]
    # What it knows: the run is still at that step (not that nothing ran: the node may have).
    why, _ = said.split("\nThe run did not go past this step; decide again.", 1)
    assert "seats come in pairs, not 3" in why and "Nothing ran" not in text
    assert text.count("== Input needed") == 2  # asked again
    assert text.rstrip().endswith("== Result ==\nbooked 4")
    assert code == 0
