"""The HTTP approval API, used as a tool outside Slack would: bearer token, clear 4xx answers,
the same who-may-decide and exactly-once rules as the buttons, and the Slack card updated."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.blocks import card as ids
from tests.support.cards import (
    blocks_text,
    current,
    has_buttons,
    wait_card,
    wait_cards,
    wait_settled,
)

REQ, BOSS, BOSS2, RANDO = "U0REQ", "U0BOSS", "U0BOSS2", "U0RANDO"
TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _posted(fake_slack, text: str) -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if c.params.get("text") == text]


def _start(bot, text: str) -> dict:
    response = bot.http.post(
        "/api/runs",
        json={"request": text, "requester": REQ, "channel": "C0REQ"},
        headers=AUTH,
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_a_token_the_api_is_off(start_bot):
    bot = start_bot()
    assert bot.http.post("/api/runs", json={}, headers=AUTH).status_code == 404
    assert bot.http.get("/api/openapi.json").status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tokens_and_bodies_are_checked(start_bot, fake_slack):
    bot = start_bot(API_TOKEN=TOKEN, APPROVERS=BOSS)
    body = {"request": "x", "requester": REQ, "channel": "C0REQ"}
    assert bot.http.post("/api/runs", json=body).status_code == 401
    wrong = bot.http.post("/api/runs", json=body, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json() == {
        "error": "That bearer token is not the API_TOKEN."
    }
    basic = bot.http.post("/api/runs", json=body, headers={"Authorization": f"Basic {TOKEN}"})
    assert basic.status_code == 401

    cases = [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"requester": "U0REQ", "channel": "C0REQ"}', "request"),
        (b'{"request": "  ", "requester": "U0REQ", "channel": "C0REQ"}', "request"),
        (b'{"request": "x", "requester": "bob", "channel": "C0REQ"}', "requester"),
        (b'{"request": "x", "requester": "U0REQ"}', "channel"),
        (b'{"request": "x", "requester": "U0REQ", "channel": "C0REQ", "graph": "z"}', "graph"),
    ]
    for raw, field in cases:
        response = bot.http.post("/api/runs", content=raw, headers=AUTH)
        assert response.status_code == 422, (raw, response.text)
        assert response.json()["field"] == field, raw
    spec = bot.http.get("/api/openapi.json", headers=AUTH).json()
    assert spec["openapi"].startswith("3.") and "/api/runs/{run}/decision" in spec["paths"]
    assert fake_slack.calls("chat.postMessage") == []  # nothing malformed started anything


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_start_read_and_decide_over_the_api_updates_the_slack_card(start_bot, fake_slack):
    bot = start_bot(API_TOKEN=TOKEN, APPROVERS=BOSS)
    started = _start(bot, "Tell the team the build is green")
    card = wait_card(fake_slack)
    assert f"Run `{started['short']}`" in card.text

    deadline = time.monotonic() + 10
    while not (run := bot.http.get(f"/api/runs/{started['short']}", headers=AUTH).json())[
        "pending"
    ]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    [pending] = run["pending"]
    assert pending["request"] == card.approval_id and pending["kind"] == "draft"
    assert pending["who_may_decide"] == f"<@{BOSS}>"
    assert pending["choices"] == ["approve", "edit", "reject"] and pending["fields"] == ["text"]

    path = f"/api/runs/{started['run']}/decision"
    refused = bot.http.post(path, json={"decision": "approve", "by": RANDO}, headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["error"] == f"Only <@{BOSS}> can decide this request."
    bad = bot.http.post(path, json={"decision": "maybe", "by": BOSS}, headers=AUTH)
    assert bad.status_code == 422 and bad.json()["field"] == "decision"
    for values, field in (({"text": " "}, "values.text"), ({"nope": 1}, "values.nope")):
        edit = {"decision": "edit", "by": BOSS, "values": values}
        bad = bot.http.post(path, json=edit, headers=AUTH)
        assert bad.status_code == 422 and bad.json()["field"] == field, bad.text
    assert has_buttons(current(fake_slack, card))

    edit = {"decision": "edit", "by": BOSS, "values": {"text": "Build is green ✅"}}
    decided = bot.http.post(path, json=edit, headers=AUTH)
    assert decided.status_code == 200
    assert decided.json() == {"decided": True, "request": card.approval_id, "status": "edited"}
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == "Build is green ✅")
    shown = blocks_text(current(fake_slack, card)["blocks"])
    assert f"Edited and approved* by <@{BOSS}>" in shown and not has_buttons(
        current(fake_slack, card)
    )
    late = bot.http.post(path, json={"decision": "approve", "by": BOSS}, headers=AUTH)
    assert late.status_code == 409 and "already decided" in late.json()["error"]

    time.sleep(0.3)
    run = bot.http.get(f"/api/runs/{started['run']}", headers=AUTH).json()
    assert run["status"] == "done" and run["pending"] == []
    assert run["decided"][0]["status"] == "edited" and run["decided"][0]["by"] == BOSS
    assert [e["event"] for e in run["timeline"]][:3] == ["started", "requested", "edited"]
    assert bot.http.get("/api/runs/ffffffff", headers=AUTH).status_code == 404


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_api_decision_racing_a_button_click_has_exactly_one_winner(start_bot, fake_slack):
    first = start_bot(API_TOKEN=TOKEN, APPROVERS=f"{BOSS},{BOSS2}")
    second = start_bot(API_TOKEN=TOKEN, APPROVERS=f"{BOSS},{BOSS2}")
    runs = [_start(first, f"Race item {n}") for n in range(3)]
    cards = wait_cards(fake_slack, 3)
    by_run = {c.approval_id: c for c in cards}
    results = []
    with ThreadPoolExecutor(6) as pool:
        for run, card in zip(runs, cards, strict=True):
            pool.submit(first.click, ids.APPROVE, card.approval_id, BOSS)
            results.append(
                pool.submit(
                    second.http.post,
                    f"/api/runs/{run['run']}/decision",
                    json={"decision": "reject", "by": BOSS2, "reason": "api"},
                    headers=AUTH,
                )
            )
    codes = [r.result().status_code for r in results]
    assert set(codes) <= {200, 409}
    for card in by_run.values():
        shown = wait_settled(fake_slack, card)
        text = re.search(r"Draft: Race item \d", card.text).group(0)
        if "Approved* by" in shown:
            assert len(_posted(fake_slack, text)) == 1
        else:
            assert f"Rejected* by <@{BOSS2}>" in shown and _posted(fake_slack, text) == []
