"""The fakes behave like Slack / OpenAI as seen through the real client libraries."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Literal

import pytest
from langchain_core.messages import HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI
from pydantic import BaseModel
from slack_bolt import App
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from tests.fakes import FakeOpenAI, FakeSlack, validate_message_blocks, validate_view
from tests.support.units import wait_until

HOSTILE = "<!channel> @here <@U123>"
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "hello"}}
MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Approve"},
    "submit": {"type": "plain_text", "text": "Send"},
    "blocks": [
        {
            "type": "input",
            "block_id": "reason",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "reason", "max_length": 3000},
        }
    ],
}


@pytest.fixture(scope="module")
def slack_server() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture
def slack(slack_server: FakeSlack) -> FakeSlack:
    slack_server.reset()
    return slack_server


@pytest.fixture
def client(slack: FakeSlack) -> WebClient:
    return WebClient(token=slack.bot_token, base_url=slack.api_url)


def error_of(call: Callable[[], object]) -> str:
    with pytest.raises(SlackApiError) as info:
        call()
    return str(info.value.response["error"])


# ------------------------------------------------------------------ Slack Web API


def test_a_dm_is_opened_before_it_is_written_to(slack: FakeSlack, client: WebClient) -> None:
    """conversations.open takes ``users`` and answers the DM's id; a D… id the app never
    opened is no conversation of its, and an ephemeral there is for its one person only."""
    assert error_of(lambda: client.chat_postMessage(channel="DU1", text="x")) == (
        "channel_not_found"
    )
    assert error_of(lambda: client.api_call("conversations.open", json={})) == (
        "users_list_not_supplied"
    )
    assert error_of(lambda: client.conversations_open(users="not-a-user")) == "user_not_found"
    assert error_of(lambda: client.conversations_open(users="UBOT")) == "cannot_dm_bot"
    opened = client.conversations_open(users="U1")
    assert opened["channel"]["id"] == slack.dm_channel("U1") and not opened["already_open"]
    assert client.conversations_open(users="U1")["already_open"]
    posted = client.chat_postMessage(channel=opened["channel"]["id"], text="card")
    assert posted["channel"] == "DU1"
    client.chat_update(channel="DU1", ts=posted["ts"], text="decided")
    assert client.chat_getPermalink(channel="DU1", message_ts=posted["ts"])["permalink"]
    client.chat_postEphemeral(channel="DU1", user="U1", text="for you")
    assert error_of(
        lambda: client.chat_postEphemeral(channel="DU1", user="U2", text="not in it")
    ) == ("user_not_in_channel")
    assert error_of(lambda: client.usergroups_users_list(usergroup="")) == "no_such_subteam"


def test_post_update_thread_and_permalink(slack: FakeSlack, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text=HOSTILE, blocks=[SECTION])
    reply = client.chat_postMessage(channel="C1", text="reply", thread_ts=first["ts"])
    assert first["ts"] < reply["ts"] and first["message"]["text"] == HOSTILE

    updated = client.chat_update(channel="C1", ts=first["ts"], text="decided")
    assert (updated["channel"], updated["ts"], updated["text"]) == ("C1", first["ts"], "decided")
    [message] = slack.messages("C1")
    assert message["text"] == "decided" and message["blocks"] == [SECTION]  # blocks kept
    assert message["reply_count"] == 1
    assert [r["text"] for r in slack.replies("C1", first["ts"])] == ["reply"]

    link = client.chat_getPermalink(channel="C1", message_ts=first["ts"])["permalink"]
    assert link == f"https://fake.slack.com/archives/C1/p{first['ts'].replace('.', '')}"
    dm = client.chat_postMessage(channel="U7", text="psst")
    assert dm["channel"] == slack.dm_channel("U7")
    ephemeral = client.chat_postEphemeral(channel="C1", user="U7", text="only you")
    assert slack.ephemerals("C1")[0]["message_ts"] == ephemeral["message_ts"]

    [call] = slack.wait_for("chat.update")
    assert call.params == {"channel": "C1", "ts": first["ts"], "text": "decided"}


@pytest.mark.filterwarnings("ignore:The top-level `text` argument is missing:UserWarning")
def test_refuses_what_slack_refuses(slack: FakeSlack, client: WebClient) -> None:
    posted = client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="x", blocks=[{"type": "divider"}] * 51)
    assert info.value.response["error"] == "invalid_blocks"
    assert info.value.response["errors"] == ["must be less than 51 items [json-pointer:/blocks]"]

    modal_only = [MODAL["blocks"][0]]
    post = client.chat_postMessage
    assert error_of(lambda: post(channel="C1", text="t", blocks=modal_only)) == "invalid_blocks"
    huge = [{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 2900}}] * 5
    assert error_of(lambda: post(channel="C1", text="t", blocks=huge)) == "msg_blocks_too_long"
    assert error_of(lambda: post(channel="C1", text="")) == "no_text"
    too_long = "z" * 4001
    update = client.chat_update
    assert error_of(lambda: update(channel="C1", ts=posted["ts"], text=too_long)) == "msg_too_long"
    assert error_of(lambda: update(channel="C1", ts="1.2", text="x")) == "message_not_found"
    assert error_of(lambda: client.api_call("chat.nope")) == "unknown_method"
    assert slack.calls("chat.nope")[0].status == 404


def test_validator_is_usable_directly() -> None:
    assert validate_message_blocks([SECTION]) == []
    assert validate_view(MODAL) == []
    button = {"type": "button", "text": {"type": "mrkdwn", "text": "b" * 80}, "action_id": "a"}
    errors = validate_message_blocks(
        [
            {"type": "actions", "block_id": "dup", "elements": [button]},
            {"type": "section", "block_id": "dup", "text": {"type": "mrkdwn", "text": ""}},
        ]
    )
    assert errors == [
        "must be one of plain_text [json-pointer:/blocks/0/elements/0/text/type]",
        "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
        "duplicate block_id 'dup' [json-pointer:/blocks/1/block_id]",
        "must be more than 0 characters [json-pointer:/blocks/1/text/text]",
    ]
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "t" * 25}}
    assert validate_view(long_title) == [
        "must be less than 25 characters [json-pointer:/view/title/text]"
    ]


def test_auth_and_rate_limits(slack: FakeSlack, client: WebClient) -> None:
    wrong = WebClient(token="xoxb-wrong", base_url=slack.api_url)
    assert error_of(wrong.auth_test) == "invalid_auth"
    app_token_client = WebClient(token=slack.app_token, base_url=slack.api_url)
    assert error_of(app_token_client.auth_test) == "not_allowed_token_type"

    slack.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="C1", text="x")
    assert info.value.response.status_code == 429
    assert info.value.response.headers["Retry-After"] == "7"

    slack.fail_next("chat.postMessage", retry_after=0)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=1))
    assert client.chat_postMessage(channel="C1", text="retried")["ok"]
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 429, 200]

    slack.fail_next("auth.test", status=503, error="service_unavailable", retry_after=None)
    request = urllib.request.Request(f"{slack.api_url}auth.test", method="POST")
    with pytest.raises(urllib.error.HTTPError) as http_error:
        urllib.request.urlopen(request, timeout=5)
    assert http_error.value.code == 503
    assert http_error.value.read().decode().startswith("503")


def test_channels_the_bot_cannot_post_in_are_refused_as_slack_refuses_them(
    slack: FakeSlack, client: WebClient
) -> None:
    slack.set_channel("GSECRET", exists=False)  # private, or a DM between people
    slack.set_channel("COUTSIDE", member=False)
    slack.set_channel("COLD", archived=True)
    assert error_of(lambda: client.chat_postMessage(channel="GSECRET", text="x")) == (
        "channel_not_found"
    )
    assert error_of(lambda: client.chat_postMessage(channel="COUTSIDE", text="x")) == (
        "not_in_channel"
    )
    assert error_of(lambda: client.chat_postMessage(channel="COLD", text="x")) == "is_archived"
    assert error_of(lambda: client.conversations_info(channel="GSECRET")) == "channel_not_found"
    assert client.conversations_info(channel="COUTSIDE")["channel"]["is_member"] is False
    assert client.conversations_info(channel="COLD")["channel"]["is_archived"] is True
    # Channels never set exist and have the bot in them, as every other test assumes.
    assert client.chat_postMessage(channel="CANYOTHER", text="x")["ok"]
    assert client.chat_postMessage(channel="U1", text="a DM")["channel"] == "DU1"


def test_a_fault_can_be_aimed_at_one_channel(slack: FakeSlack, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", status=503, error="unavailable", channel="CFLAKY")
    assert client.chat_postMessage(channel="CSTEADY", text="first")["ok"]
    with pytest.raises(SlackApiError) as info:
        client.chat_postMessage(channel="CFLAKY", text="second")
    assert info.value.response.status_code == 503
    assert client.chat_postMessage(channel="CFLAKY", text="third")["ok"]


def test_directory_methods(slack: FakeSlack, client: WebClient) -> None:
    slack.usergroups["S1"] = ["U1", "U2"]
    assert client.usergroups_users_list(usergroup="S1")["users"] == ["U1", "U2"]
    assert error_of(lambda: client.usergroups_users_list(usergroup="S9")) == "no_such_subteam"
    slack.users["U1"] = {"real_name": "Ada"}
    user = client.users_info(user="U1")["user"]
    assert (user["id"], user["real_name"], user["tz"]) == ("U1", "Ada", "UTC")
    assert client.conversations_info(channel="C1")["channel"]["id"] == "C1"
    assert client.auth_test()["user_id"] == "UBOT"


def test_views(slack: FakeSlack, client: WebClient) -> None:
    trigger = slack.new_trigger_id()
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V") and view["blocks"] == MODAL["blocks"]
    assert error_of(lambda: client.views_open(trigger_id=trigger, view=MODAL)) == (
        "exchanged_trigger_id"
    )
    slack.expire_trigger("old")
    assert error_of(lambda: client.views_open(trigger_id="old", view=MODAL)) == (
        "expired_trigger_id"
    )
    bad = {**MODAL, "submit": None}
    with pytest.raises(SlackApiError) as info:
        client.views_open(trigger_id=slack.new_trigger_id(), view=bad)
    assert info.value.response["error"] == "invalid_arguments"
    assert info.value.response["response_metadata"]["messages"] == [
        "[ERROR] submit is required when an input block is present [json-pointer:/view/submit]"
    ]

    closed = {**MODAL, "title": {"type": "plain_text", "text": "Done"}}
    updated = client.views_update(view_id=view["id"], view=closed, hash=view["hash"])["view"]
    assert slack.view(view["id"])["title"]["text"] == "Done"
    assert error_of(lambda: client.views_update(view_id=view["id"], view=MODAL, hash="stale")) == (
        "hash_conflict"
    )
    assert updated["id"] == view["id"]
    home = {"type": "home", "blocks": [SECTION]}
    assert client.views_publish(user_id="U1", view=home)["view"]["type"] == "home"


def test_wait_for_explains_timeouts(slack: FakeSlack, client: WebClient) -> None:
    slack.set_latency("auth.test", 0.2)
    client.auth_test()
    assert slack.calls("auth.test")[0].ok
    with pytest.raises(AssertionError, match=r"chat.postMessage.*\n  auth.test .* -> HTTP 200 ok"):
        slack.wait_for("chat.postMessage", timeout=0.1)


def test_socket_mode_round_trip_with_bolt(slack: FakeSlack) -> None:
    app = App(client=WebClient(token=slack.bot_token, base_url=slack.api_url))

    @app.command("/approve")
    def on_command(ack: Any, respond: Any, command: dict[str, Any], client: WebClient) -> None:
        ack(f"got {command['text']}")
        client.chat_postMessage(channel=command["channel_id"], text=command["text"])
        respond("done")

    handler = SocketModeHandler(app, app_token=slack.app_token)
    handler.connect()
    try:
        slack.wait_socket_connected(timeout=5)
        payload = {
            "command": "/approve",
            "text": HOSTILE,
            "user_id": "U1",
            "channel_id": "C1",
            "team_id": "T1",
            "trigger_id": slack.new_trigger_id(),
            "response_url": slack.response_url("cmd-1"),
        }
        ack = slack.send_envelope("slash_commands", payload)
        assert ack["payload"] == {"text": f"got {HOSTILE}"}
        [call] = slack.wait_for("chat.postMessage", timeout=5)
        assert call.params["text"] == HOSTILE
        [responded] = slack.wait_for("response_url", timeout=5)
        assert (responded.params["hook"], responded.params["text"]) == ("cmd-1", "done")
    finally:
        handler.close()
    [opened] = slack.calls("apps.connections.open")
    assert opened.token == slack.app_token and slack.socket_connection_count == 1


# ------------------------------------------------------------------------- OpenAI


class Param(BaseModel):
    name: str
    value: str


class ProposedAction(BaseModel):  # strict-safe: no free-form dict (see test_fake_openai_strict)
    action_type: Literal["post_message", "noop"]
    description: str
    parameters: list[Param]
    risk_level: Literal["low", "high"]


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


def test_chat_completion_scripts(openai_server: FakeOpenAI, llm: ChatOpenAI) -> None:
    answer = llm.invoke([SystemMessage("You draft."), HumanMessage(f"say {HOSTILE}")])
    assert answer.content == f"Draft: say {HOSTILE}"
    assert answer.response_metadata["finish_reason"] == "stop"
    assert len(str(llm.invoke("make it LONG:5000").content)) == 5000
    assert "".join(str(c.content) for c in llm.stream("streamed")) == "Draft: streamed"

    openai_server.enqueue("queued answer")
    assert llm.invoke("anything").content == "queued answer"
    openai_server.enqueue(status=429)
    with pytest.raises(Exception, match="429"):
        llm.invoke("anything")
    with pytest.raises(Exception, match="500"):
        llm.invoke("FAIL:500")
    assert len(openai_server.wait_for_requests(6, timeout=1)) == 6

    request = urllib.request.Request(
        f"{openai_server.base_url}/chat/completions", data=b"{}", method="POST"
    )
    with pytest.raises(urllib.error.HTTPError) as no_key:
        urllib.request.urlopen(request, timeout=5)
    assert no_key.value.code == 401
    assert json.loads(no_key.value.read())["error"]["type"] == "invalid_request_error"


def test_structured_output(openai_server: FakeOpenAI, llm: ChatOpenAI) -> None:
    wanted = {
        "action_type": "post_message",
        "description": "greet",
        "parameters": [{"name": "channel", "value": "C1"}, {"name": "text", "value": "hi"}],
        "risk_level": "high",
    }
    default_method = llm.with_structured_output(ProposedAction)  # json_schema response_format
    assert default_method.invoke(f"please {json.dumps(wanted)}") == ProposedAction(**wanted)
    assert openai_server.requests[-1]["response_format"]["type"] == "json_schema"
    fallback = default_method.invoke("no json here")
    assert fallback == ProposedAction(
        action_type="post_message", description="x", parameters=[], risk_level="low"
    )

    tools = llm.with_structured_output(ProposedAction, method="function_calling")
    assert tools.invoke(json.dumps(wanted)) == ProposedAction(**wanted)
    assert openai_server.requests[-1]["tool_choice"]["function"]["name"] == "ProposedAction"


def test_a_held_model_request_waits_unanswered_until_released(
    openai_server: FakeOpenAI, llm: ChatOpenAI
) -> None:
    openai_server.hold()
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(llm.invoke, "hold me")
        [body] = openai_server.wait_until_held(1)
        assert body["messages"][-1]["content"] == "hold me"
        # Refused outright, held or not: the request is never the model's to think about.
        request = urllib.request.Request(
            f"{openai_server.base_url}/chat/completions", data=b"{}", method="POST"
        )
        with pytest.raises(urllib.error.HTTPError) as no_key:
            urllib.request.urlopen(request, timeout=5)
        assert no_key.value.code == 401
        assert not reply.done() and openai_server.requests == []
        openai_server.release()
        assert reply.result(timeout=10).content == "Draft: hold me"
    assert openai_server.wait_for_answers(1) == [True]
    assert openai_server.held == []


def test_held_slack_calls_are_neither_done_nor_answered_until_released(
    slack: FakeSlack, client: WebClient
) -> None:
    slack.hold("chat.postMessage")
    with ThreadPoolExecutor(1) as pool:
        posting = pool.submit(client.chat_postMessage, channel="C1", text="held")
        [call] = wait_until(lambda: slack.calls("chat.postMessage"), what="the post held")
        assert call.status is None and slack.messages("C1") == []
        assert client.auth_test()["ok"]  # other methods are answered meanwhile
        slack.release("chat.postMessage")
        assert posting.result(timeout=10)["ok"]
    assert [m["text"] for m in slack.messages("C1")] == ["held"]


def test_conversation_members_come_page_by_page_as_slack_lists_them(
    slack: FakeSlack, client: WebClient
) -> None:
    users = [f"U{n:04d}" for n in range(250)]
    slack.set_members("CBIG", users)
    first = client.conversations_members(channel="CBIG")  # Slack's default page: 100
    assert first["members"] == users[:100]
    cursor = first["response_metadata"]["next_cursor"]
    second = client.conversations_members(channel="CBIG", cursor=cursor, limit=999)
    assert second["members"] == users[100:]
    assert second["response_metadata"]["next_cursor"] == ""
    assert client.conversations_members(channel="CANYOTHER")["members"] == ["UBOT"]
    slack.set_channel("GSECRET", exists=False)
    slack.set_channel("GOUTSIDE", member=False)  # private, and the bot is not in it
    slack.set_channel("COUTSIDE", member=False)  # public: its members are readable anyway
    for refused, error in [
        (lambda: client.api_call("conversations.members", params={}), "channel_not_found"),
        (lambda: client.conversations_members(channel="GSECRET"), "channel_not_found"),
        (lambda: client.conversations_members(channel="GOUTSIDE"), "channel_not_found"),
        (lambda: client.conversations_members(channel="CBIG", limit=0), "invalid_limit"),
        (lambda: client.conversations_members(channel="CBIG", limit=1000), "invalid_limit"),
        (lambda: client.conversations_members(channel="CBIG", cursor="nope"), "invalid_cursor"),
    ]:
        assert error_of(refused) == error
    assert client.conversations_members(channel="COUTSIDE")["members"] == ["UBOT"]
