"""The HTTP approval API, used as a tool outside Slack would: bearer token, clear 4xx answers,
the same who-may-decide and exactly-once rules as the buttons, and the Slack card updated."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.slack.blocks import card as ids
from tests.support.cards import (
    blocks_text,
    current,
    has_buttons,
    wait_card,
    wait_cards,
    wait_settled,
)

REQ, BOSS, BOSS2, RANDO, DESK = "U0REQ", "U0BOSS", "U0BOSS2", "U0RANDO", "U0DESK"
TOKENS = {name: f"{name}-token-0123456789abcdef" for name in ("req", "boss", "boss2", "rando")}
DESK_TOKEN = "desk-token-0123456789abcdef"  # on_behalf: may name the Slack user it acts for
API_TOKENS = ",".join(
    [
        f"req:{TOKENS['req']}:{REQ}",
        f"boss:{TOKENS['boss']}:{BOSS}",
        f"boss2:{TOKENS['boss2']}:{BOSS2}",
        f"rando:{TOKENS['rando']}:{RANDO}",
        f"desk:{DESK_TOKEN}:{DESK}:on_behalf",
    ]
)
AUTH = {"Authorization": f"Bearer {TOKENS['req']}"}
AS_BOSS = {"Authorization": f"Bearer {TOKENS['boss']}"}
AS_BOSS2 = {"Authorization": f"Bearer {TOKENS['boss2']}"}
AS_RANDO = {"Authorization": f"Bearer {TOKENS['rando']}"}
AS_DESK = {"Authorization": f"Bearer {DESK_TOKEN}"}


@pytest.fixture(autouse=True)
def _members(fake_slack) -> None:
    """Everyone here is in C0REQ, where runs are started from (bot.http.api: only from a
    channel the requester is in)."""
    fake_slack.set_members("C0REQ", [REQ, BOSS, BOSS2, RANDO, DESK])


def _posted(fake_slack, text: str) -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if c.params.get("text") == text]


def _start(bot, text: str, channel: str = "C0REQ") -> dict:
    response = bot.http.post("/api/runs", json={"request": text, "channel": channel}, headers=AUTH)
    assert response.status_code == 201, response.text
    assert response.json()["requester"] == REQ  # the token's own user
    return response.json()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_without_a_token_the_api_is_off(bot_in_process):
    bot = bot_in_process()
    assert bot.http.post("/api/runs", json={}, headers=AUTH).status_code == 404
    assert bot.http.get("/api/openapi.json").status_code == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_tokens_and_bodies_are_checked(bot_in_process, fake_slack):
    bot = bot_in_process(API_TOKENS=API_TOKENS, APPROVERS=BOSS)
    body = {"request": "x", "channel": "C0REQ"}
    assert bot.http.post("/api/runs", json=body).status_code == 401
    for wrong in ("nope", TOKENS["req"] + "x", TOKENS["req"][:-1], f"{TOKENS['req']} {DESK_TOKEN}"):
        refused = bot.http.post(
            "/api/runs", json=body, headers={"Authorization": f"Bearer {wrong}"}
        )
        assert refused.status_code == 401 and refused.json() == {
            "error": "That bearer token is not one of the configured API tokens."
        }
    basic = bot.http.post(
        "/api/runs", json=body, headers={"Authorization": f"Basic {TOKENS['req']}"}
    )
    assert basic.status_code == 401
    assert (
        bot.http.get("/api/runs/ffffffff", headers={"Authorization": "Bearer x"}).status_code == 401
    )

    cases = [
        (b"not json", "body"),
        (b"[1, 2]", "body"),
        (b'{"channel": "C0REQ"}', "request"),
        (b'{"request": "  ", "channel": "C0REQ"}', "request"),
        (b'{"request": "x", "requester": "bob", "channel": "C0REQ"}', "requester"),
        (b'{"request": "x", "requester": "U0REQ\\n", "channel": "C0REQ"}', "requester"),
        (b'{"request": "x"}', "channel"),
        (b'{"request": "x", "channel": "C0REQ\\n"}', "channel"),
        (b'{"request": "x", "channel": "C0REQ", "graph": "z"}', "graph"),
    ]
    for raw, field in cases:
        response = bot.http.post("/api/runs", content=raw, headers=AUTH)
        assert response.status_code == 422, (raw, response.text)
        assert response.json()["field"] == field, raw
    # A token starts runs as its own user; naming another needs an on_behalf token.
    as_boss = bot.http.post("/api/runs", json={**body, "requester": BOSS}, headers=AUTH)
    assert as_boss.status_code == 403 and as_boss.json()["field"] == "requester"
    spec = bot.http.get("/api/openapi.json", headers=AUTH).json()
    assert spec["openapi"].startswith("3.") and "/api/runs/{run}/decision" in spec["paths"]
    assert fake_slack.calls("chat.postMessage") == []  # nothing malformed started anything


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_start_read_and_decide_over_the_api_updates_the_slack_card(bot_in_process, fake_slack):
    bot = bot_in_process(API_TOKENS=API_TOKENS, APPROVERS=BOSS)
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
    # The requester's own token: may see the run, may not decide it.
    refused = bot.http.post(path, json={"decision": "approve"}, headers=AUTH)
    assert refused.status_code == 409
    assert refused.json()["error"] == f"Only <@{BOSS}> can decide this request."
    # A token for someone who may not see the run: the answer a run that does not exist gets.
    for headers, by in ((AS_RANDO, {}), (AS_DESK, {"by": RANDO})):
        hidden = bot.http.post(path, json={"decision": "approve", **by}, headers=headers)
        assert (hidden.status_code, hidden.json()) == (404, {"error": "No such run."})
    as_other = bot.http.post(path, json={"decision": "approve", "by": BOSS2}, headers=AS_BOSS)
    assert as_other.status_code == 403 and as_other.json()["field"] == "by"
    trailing = bot.http.post(path, json={"decision": "approve", "by": f"{BOSS}\n"}, headers=AS_BOSS)
    assert trailing.status_code == 422 and trailing.json()["field"] == "by"
    bad = bot.http.post(path, json={"decision": "maybe"}, headers=AS_BOSS)
    assert bad.status_code == 422 and bad.json()["field"] == "decision"
    for values, field in (({"text": " "}, "values.text"), ({"nope": 1}, "values.nope")):
        edit = {"decision": "edit", "values": values}
        bad = bot.http.post(path, json=edit, headers=AS_BOSS)
        assert bad.status_code == 422 and bad.json()["field"] == field, bad.text
    assert has_buttons(current(fake_slack, card))

    edit = {"decision": "edit", "values": {"text": "Build is green ✅"}}
    decided = bot.http.post(path, json=edit, headers=AS_BOSS)
    assert decided.status_code == 200
    assert decided.json() == {"decided": True, "request": card.approval_id, "status": "edited"}
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == "Build is green ✅")
    shown = blocks_text(current(fake_slack, card)["blocks"])
    assert f"Edited and approved* by <@{BOSS}>" in shown and not has_buttons(
        current(fake_slack, card)
    )
    late = bot.http.post(path, json={"decision": "approve"}, headers=AS_BOSS)
    assert late.status_code == 409 and "already decided" in late.json()["error"]

    bot.settle()  # what the decision set off has finished
    run = bot.http.get(f"/api/runs/{started['run']}", headers=AUTH).json()
    assert run["status"] == "done" and run["pending"] == []
    [decision] = run["decided"]
    assert (decision["status"], decision["by"], decision["via"]) == ("edited", BOSS, "api")
    assert decision["on_behalf_of"] is None  # the token decided as its own user
    assert [e["event"] for e in run["timeline"]][:3] == ["started", "requested", "edited"]
    assert run["timeline"][2]["actor"] == BOSS and run["timeline"][2]["detail"]["via"] == "api"
    assert bot.http.get("/api/runs/ffffffff", headers=AUTH).json() == {"error": "No such run."}
    assert bot.http.get(f"/api/runs/{started['run']}", headers=AS_BOSS).status_code == 200
    hidden = bot.http.get(f"/api/runs/{started['run']}", headers=AS_RANDO)
    assert (hidden.status_code, hidden.json()) == (404, {"error": "No such run."})
    assert (
        bot.http.get(f"/api/runs/{started['short']}?as={BOSS}", headers=AS_RANDO).status_code == 403
    )
    assert (
        bot.http.get(f"/api/runs/{started['short']}?as={BOSS}", headers=AS_DESK).status_code == 200
    )


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_an_api_decision_racing_a_button_click_has_exactly_one_winner(bot_in_process, fake_slack):
    first = bot_in_process(API_TOKENS=API_TOKENS, APPROVERS=f"{BOSS},{BOSS2}")
    second = bot_in_process(API_TOKENS=API_TOKENS, APPROVERS=f"{BOSS},{BOSS2}")
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
                    json={"decision": "reject", "reason": "api"},
                    headers=AS_BOSS2,
                )
            )
    codes = [r.result().status_code for r in results]
    assert set(codes) <= {200, 409}
    for card in by_run.values():
        shown = wait_settled(fake_slack, card)
        first.settle()  # both bots idle: a second outcome would show now
        second.settle()
        text = re.search(r"Draft: Race item \d", card.text).group(0)
        if "Approved* by" in shown:
            assert len(_posted(fake_slack, text)) == 1
        else:
            assert f"Rejected* by <@{BOSS2}>" in shown and _posted(fake_slack, text) == []


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_run_is_started_only_in_a_channel_its_requester_is_in(bot_in_process, fake_slack):
    """As /agent can only be typed where its user is: a token starts a run (and its card) only
    in a channel the user it acts for is a member of. Not being in it, and the bot not seeing
    it (a private channel), get the same 403, naming the channel; nothing is posted."""
    bot = bot_in_process(APPROVERS=BOSS, API_TOKENS=API_TOKENS)
    fake_slack.set_members("C0OPS", [BOSS])
    fake_slack.set_channel("G0HR", exists=False)
    fake_slack.set_members("G0HR", [REQ])
    for channel in ("C0OPS", "G0HR"):
        body = {"request": "Announce the reorg", "channel": channel}
        refused = bot.http.post("/api/runs", json=body, headers=AUTH)
        assert refused.status_code == 403, refused.text
        assert refused.json() == {
            "error": f"<@{REQ}> is not a member of channel {channel}: a run is started only in "
            "a channel its requester is in, as /agent is typed there",
            "field": "channel",
        }
    # An on_behalf token: the person it names must be in the channel, not the token's user.
    for_req = {"request": "Announce the reorg", "channel": "C0OPS", "requester": REQ}
    assert bot.http.post("/api/runs", json=for_req, headers=AS_DESK).status_code == 403
    for_boss = {**for_req, "requester": BOSS}
    started = bot.http.post("/api/runs", json=for_boss, headers=AS_DESK)
    assert started.status_code == 201, started.text
    assert wait_card(fake_slack).channel == "C0OPS"
    assert len(fake_slack.calls("chat.postMessage")) == 1  # the refused ones posted nothing


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_start_slack_cannot_check_is_refused_for_now_not_let_through(bot_in_process, fake_slack):
    bot = bot_in_process(API_TOKENS=API_TOKENS)
    fake_slack.fail_next("conversations.members", status=400, error="fetch_members_failed")
    body = {"request": "Announce the reorg", "channel": "C0REQ"}
    unchecked = bot.http.post("/api/runs", json=body, headers=AUTH)
    assert unchecked.status_code == 503 and unchecked.json()["retry"] is True
    assert "C0REQ" in unchecked.json()["error"]
    assert fake_slack.calls("chat.postMessage") == []
    assert bot.http.post("/api/runs", json=body, headers=AUTH).status_code == 201


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("error", ["missing_scope", "not_allowed_token_type"])
def test_an_app_installed_without_the_members_scopes_is_told_to_reinstall_not_to_retry(
    bot_in_process, fake_slack, error
):
    """An install made before the manifest asked for channels:read and the rest gets this on
    every start: waiting will not help, so the answer says what will."""
    bot = bot_in_process(API_TOKENS=API_TOKENS)
    fake_slack.fail_next("conversations.members", status=200, error=error)
    body = {"request": "Announce the reorg", "channel": "C0REQ"}
    answer = bot.http.post("/api/runs", json=body, headers=AUTH)
    assert answer.status_code == 503 and answer.json()["retry"] is False
    assert "reinstall it from manifest.yml" in answer.json()["error"]
    assert "Retry-After" not in answer.headers
    assert fake_slack.calls("chat.postMessage") == []


JSON = {"Content-Type": "application/json"}


@pytest.mark.parametrize(
    ("field", "body"),
    [
        ("request", b'{"decision": "approve", "request": "\\ud800"}'),
        ("reason", b'{"decision": "reject", "reason": "no \\ud800"}'),
        ("values.text", b'{"decision": "edit", "values": {"text": "green \\udc00"}}'),
        ("reason", b'{"decision": "reject", "reason": "no\\u0000pe"}'),
    ],
)
def test_text_no_database_or_answer_can_hold_is_a_422_and_the_run_stays_readable(
    bot_in_process, fake_slack, field, body
):
    """A lone surrogate (a JSON escape json.loads lets through) or a NUL: refused where the
    body comes in, not stored to break every later read of the run (a 500), nor echoed."""
    bot = bot_in_process(API_TOKENS=API_TOKENS, APPROVERS=BOSS)
    run = _start(bot, "Tell the team the build is green")["run"]
    wait_card(fake_slack)
    answer = bot.http.post(f"/api/runs/{run}/decision", content=body, headers={**AS_BOSS, **JSON})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field
    assert "valid Unicode, without NUL characters" in answer.json()["error"]
    read = bot.http.get(f"/api/runs/{run}", headers=AUTH)
    assert read.status_code == 200 and read.json()["decided"] == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_nul_in_a_new_run_s_request_is_a_422(bot_in_process):
    bot = bot_in_process(API_TOKENS=API_TOKENS, APPROVERS=BOSS)
    body = b'{"request": "hi\\u0000there", "channel": "C0REQ"}'
    answer = bot.http.post("/api/runs", content=body, headers={**AUTH, **JSON})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == "request"


@pytest.mark.parametrize(
    "body",
    [
        b'{"request": "hi", "channel": "C0REQ", "\\ud800": 1}',
        b'{"request": "hi", "channel": "C0REQ", "x": {"a\\udc00": 1}}',
    ],
)
def test_a_key_no_answer_can_hold_is_a_422_naming_where_it_is(bot_in_process, body):
    bot = bot_in_process(API_TOKENS=API_TOKENS, APPROVERS=BOSS)
    answer = bot.http.post("/api/runs", content=body, headers={**AUTH, **JSON})
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] in ("body", "x")
