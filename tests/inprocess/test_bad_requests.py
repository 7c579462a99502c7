"""Requests Slack did not sign, or that nobody could understand, change nothing and never make
the bot answer 500, drop the connection or stop serving; a confused user is told what to do.

The bot's HTTP app (signature check, body cap, Bolt) runs in this process (was
tests/scenarios/test_bad_requests.py, against the bot's process); what uvicorn itself does with
a huge or endless body is tests/scenarios/test_bounded.py's."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from tests.support import slack_requests as sr
from tests.support.cards import blocks_text, current, has_buttons, wait_card
from tests.support.faults import wait_quiet

REQUESTER = "U0REQ"
FORM = "application/x-www-form-urlencoded"
USAGE = "Usage: `/agent <what you want>`"


@pytest.fixture
def database_url(tmp_path):
    """SQLite only: nothing here depends on the database."""
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def bot(bot_in_process):
    return bot_in_process()


def post(bot, body: bytes, headers: dict[str, Any]) -> httpx.Response:
    return bot.http.post("/slack/events", content=body, headers=headers)


def signed(body: bytes, content_type: str = FORM, **kwargs: Any) -> dict[str, Any]:
    return {**sr.sign(body, **kwargs), "Content-Type": content_type}


def payload(data: Any) -> bytes:
    return urlencode({"payload": json.dumps(data)}).encode()


def visible_effects(fake_slack) -> list[str]:
    """Everything a user could have seen: messages, edits, notes and modals."""
    methods = ("chat.postMessage", "chat.update", "chat.postEphemeral", "views.open")
    return [f"{c.method} {c.params}" for m in methods for c in fake_slack.calls(m)]


# ------------------------------------------------------------------ signatures


def forgeries(body: bytes) -> dict[str, dict[str, Any]]:
    now = int(time.time())
    good = signed(body)
    return {
        "unsigned": {"Content-Type": FORM},
        "signature without timestamp": {
            "Content-Type": FORM,
            "X-Slack-Signature": good["X-Slack-Signature"],
        },
        "wrong secret": signed(body, secret="not-the-signing-secret"),
        "six minutes old": signed(body, timestamp=now - 360),
        "six minutes ahead": signed(body, timestamp=now + 360),
        "timestamp not a number": {**good, "X-Slack-Request-Timestamp": "yesterday"},
        "signed for another body": signed(body + b"&extra=1"),
        "signature of another scheme": {
            **good,
            "X-Slack-Signature": good["X-Slack-Signature"].replace("v0=", "v1="),
        },
    }


def test_requests_slack_did_not_sign_get_401_and_change_nothing(
    bot, fake_slack, fake_openai, database_url
):
    bot.command("Announce the office move")
    card = wait_card(fake_slack)
    fake_openai.wait_for_requests(1)
    before = visible_effects(fake_slack)

    bodies = {
        "slash command": sr.command_body("Draft something else", REQUESTER),
        "Approve click": sr.click_body(
            ids.APPROVE, card.approval_id, REQUESTER, card.channel, card.ts
        ),
        "Reject submission": sr.submission_body(
            modals.REJECT, card.approval_id, REQUESTER, {modals.REASON_BLOCK: "forged"}
        ),
    }
    answers = {
        f"{kind}, {forgery}": post(bot, body, headers).status_code
        for kind, body in bodies.items()
        for forgery, headers in forgeries(body).items()
    }
    assert answers == dict.fromkeys(answers, 401)

    wait_quiet(database_url)  # had any of them got through, its effects would show by now
    assert visible_effects(fake_slack) == before
    assert len(fake_openai.requests) == 1
    assert has_buttons(current(fake_slack, card))

    # The same requests, properly signed (even four minutes late), do get through.
    late = signed(bodies["Approve click"], timestamp=int(time.time()) - 240)
    assert post(bot, bodies["Approve click"], late).status_code == 200
    fake_slack.wait_for("chat.postMessage", lambda c: c.params["text"].startswith("Draft: Ann"))
    started = bot.send(bodies["slash command"])
    assert started.status_code == 200 and "Started run" in started.json()["text"]


# ------------------------------------------------------------------ malformed requests


@dataclass(frozen=True)
class Case:
    name: str
    body: bytes
    content_type: str = FORM
    user: str | None = None  # who should hear about it, when the answer is a 200
    event: bool = False  # an Events API delivery: a bare 200 ack is a fine answer


def block_actions(user: str, actions: Any) -> bytes:
    return payload(
        {
            "type": "block_actions",
            "user": {"id": user},
            "channel": {"id": "C0REQ"},
            "trigger_id": "trig-1",
            "actions": actions,
        }
    )


def event(data: dict[str, Any]) -> bytes:
    return json.dumps({"type": "event_callback", "team_id": "T1", **data}).encode()


CASES = [
    Case("garbage form data", b"\x00\x01garbage=%%%&&&==;;\r\n"),
    Case("empty body", b""),
    Case("payload= not JSON", b"payload=%7Bnot-json"),
    Case("payload= a JSON list", payload([1, 2])),
    Case("payload= a JSON string", payload("block_actions")),
    Case("payload= with no type", payload({"user": {"id": "U0BAD06"}})),
    Case("block_actions with no actions", block_actions("U0BAD07", [])),
    Case("block_actions with actions not a list", block_actions("U0BAD08", "approve")),
    Case(
        "block_actions whose button has no value",
        block_actions("U0BAD09", [{"action_id": ids.APPROVE, "block_id": "decide:x"}]),
        user="U0BAD09",
    ),
    Case("unknown action_id", sr.click_body("approval.nuke", "abc", "U0BAD10"), user="U0BAD10"),
    Case(
        "Approve on an unknown request",
        sr.click_body(ids.APPROVE, "nope", "U0BAD11"),
        user="U0BAD11",
    ),
    Case("Edit on an unknown request", sr.click_body(ids.EDIT, "nope", "U0BAD12"), user="U0BAD12"),
    Case(
        "Reject on an unknown request", sr.click_body(ids.REJECT, "nope", "U0BAD13"), user="U0BAD13"
    ),
    Case(
        "View full text of an unknown request",
        sr.click_body(ids.VIEW_FULL, "nope", "U0BAD14"),
        user="U0BAD14",
    ),
    Case("unknown view callback_id", sr.submission_body("approval.nope", "x", "U0BAD15", {})),
    Case(
        "submission for an unknown request",
        sr.submission_body(modals.REJECT, "nope", "U0BAD16", {modals.REASON_BLOCK: "no"}),
        user="U0BAD16",
    ),
    Case(
        "submission with no state",
        payload(
            {
                "type": "view_submission",
                "user": {"id": "U0BAD17"},
                "view": {"type": "modal", "callback_id": modals.REJECT, "private_metadata": "x"},
            }
        ),
        user="U0BAD17",
    ),
    Case("submission whose view is a list", payload({"type": "view_submission", "view": [1]})),
    Case(
        "an event we do not handle",
        event({"event": {"type": "reaction_added", "user": "U0BAD19"}, "event_id": "Ev19"}),
        "application/json",
        event=True,
    ),
    Case("event_callback with no event", event({}), "application/json", event=True),
    Case(
        "app_home_opened with no user",
        event({"event": {"type": "app_home_opened", "tab": "home"}, "event_id": "Ev21"}),
        "application/json",
        event=True,
    ),
    Case("non-UTF-8 form body", b"command=%2Fagent&text=\xff\xfe\xfd&user_id=U0BAD22"),
    Case("non-UTF-8 JSON body", b'{"type": "event_callback", "x": "\xff"}', "application/json"),
    Case("JSON that does not parse", b'{"type": "event_callback",', "application/json"),
    Case("a JSON array", b"[1, 2, 3]", "application/json"),
    Case(
        "another slash command",
        urlencode({"command": "/other", "text": "hi", "user_id": "U0BAD26"}).encode(),
    ),
    Case(
        "/agent without user or channel",
        urlencode({"command": "/agent", "text": "hi"}).encode(),
    ),
    Case("a 2 MB body", b"text=" + b"x" * 2_000_000),
]


def judge(case: Case, response: httpx.Response, fake_slack) -> str | None:
    """Why the answer is not acceptable, or None when it is."""
    status = response.status_code
    if 400 <= status < 500:
        return None
    if status != 200:
        return f"answered HTTP {status}: {response.text[:200]}"
    ack = response.json() if response.content.strip() else {}
    if isinstance(ack, dict) and ack.get("text"):
        return None
    if isinstance(ack, dict) and ack.get("response_action") == "update":
        return None if blocks_text(ack["view"]["blocks"]) else f"an empty view: {ack}"
    if isinstance(ack, dict) and ack.get("response_action") == "errors":
        return None if all(ack.get("errors", {}).values()) else f"empty inline errors: {ack}"
    if case.event:
        return None
    if case.user is None:
        return f"answered 200 with {response.text[:200]!r} and nobody to tell"
    try:
        fake_slack.wait_for(
            "chat.postEphemeral", lambda c: c.params["user"] == case.user, timeout=5
        )
    except AssertionError:
        return f"answered 200 with {response.text[:200]!r} but told {case.user} nothing"
    return None


def test_malformed_requests_get_a_4xx_or_a_polite_answer_and_the_bot_keeps_serving(bot, fake_slack):
    problems = {}
    for case in CASES:
        try:
            response = post(bot, case.body, signed(case.body, case.content_type))
        except httpx.TransportError as exc:
            problems[case.name] = f"connection dropped: {exc!r}"
            continue
        problem = judge(case, response, fake_slack)
        if problem:
            problems[case.name] = problem
    assert problems == {}

    notes = {c.params["user"]: c.params["text"] for c in fake_slack.calls("chat.postEphemeral")}
    unknown = "That button doesn't belong to any request I know of; nothing changed."
    assert notes["U0BAD11"] == notes["U0BAD14"] == unknown
    assert notes["U0BAD10"].startswith("I don't know that button")
    assert notes["U0BAD09"].startswith("Sorry, I couldn't read that")
    assert [c for c in fake_slack.calls() if c.method in ("chat.postMessage", "views.open")] == []

    response = bot.command("Tell the team the coffee machine is fixed")
    assert response.status_code == 200 and "Started run" in response.json()["text"]
    card = wait_card(fake_slack)
    assert "Draft: Tell the team the coffee machine is fixed" in card.text


# ------------------------------------------------------------------ usage


def test_agent_without_a_request_answers_usage(bot, fake_slack, fake_openai, database_url):
    for text in ("", "help", "  HELP  ", "[draft]", "[draft]   "):
        response = bot.command(text)
        assert response.status_code == 200
        ack = response.json()
        assert ack["response_type"] == "ephemeral", text
        assert ack["text"].startswith(USAGE), text
        # Every registered graph, with the first line of its docstring.
        assert "• `draft` (default): Draft a Slack message;" in ack["text"]
        assert "• `action`: Plan one action" in ack["text"]
    wait_quiet(database_url)  # nothing under way: had anything started, it would show
    assert not fake_openai.requests and not fake_slack.calls("chat.postMessage")


def test_an_unknown_graph_is_named_and_nothing_runs(bot, fake_slack, fake_openai, database_url):
    response = bot.command("[nosuchgraph] x")
    assert response.status_code == 200
    text = response.json()["text"]
    assert text.startswith("There is no graph called `nosuchgraph`.")
    assert USAGE in text and "• `draft` (default)" in text and "• `action`" in text
    wait_quiet(database_url)  # nothing under way: had anything started, it would show
    assert not fake_openai.requests and not fake_slack.calls("chat.postMessage")
