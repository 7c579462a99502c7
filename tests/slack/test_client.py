"""The bot's Slack Web API calls (bot.slack.client), through the real slack_sdk client over
HTTP to the fake Slack server: what each call sends, what it makes of Slack's answers, which
failures it retries and which it reports."""

from __future__ import annotations

import socket
import threading
import time

import pytest
from slack_sdk.errors import SlackApiError

from bot.domain.models import Approval, Decision
from bot.slack.client import MESSAGE_LIMIT, Slack
from bot.slack.errors import REFUSALS, not_done, refusal, uncertain
from bot.slack.web_client import make_client
from tests.fakes.trickle import TrickleServer
from tests.support.raw_http import read_request
from tests.support.units import review


def _approval(**changes) -> Approval:
    fields = {
        "id": "a1",
        "thread_id": "thread-0001",
        "interrupt_id": "i1",
        "graph": "draft",
        "request": "draft a note",
        "requester": "U0ASKER",
        "payload": {"value": {"text": "Hello"}},
        "channel": "C0CARDS",
        "ts": None,
        "status": "pending",
        "created_at": 1_800_000_000.0,
        "review": review(),
    }
    return Approval(**{**fields, **changes})


def _buttons(blocks) -> list[str]:
    return [
        e.get("action_id")
        for b in blocks
        if b.get("type") == "actions"
        for e in b.get("elements", [])
    ]


def test_a_card_is_posted_to_its_channel_with_its_buttons(slack, fake_slack):
    channel, ts = slack.post_card(_approval(), notes=("Expires in 1 hour",))

    [call] = fake_slack.calls("chat.postMessage")
    assert call.params["channel"] == "C0CARDS" and channel == "C0CARDS"
    assert call.params["unfurl_links"] in (False, "false", "0", 0)
    message = fake_slack.message("C0CARDS", ts)
    assert _buttons(message["blocks"])  # Approve, Reject... on the card
    assert "Expires in 1 hour" in str(message["blocks"])
    assert "thread_ts" not in message


def test_a_later_rounds_card_goes_in_the_thread_of_the_first(slack, fake_slack):
    _, first = slack.post_card(_approval())
    slack.post_card(_approval(id="a2", thread_ts=first))
    assert [m["ts"] for m in fake_slack.replies("C0CARDS", first)] != []


def test_a_decided_card_is_redrawn_without_buttons(slack, fake_slack):
    channel, ts = slack.post_card(_approval())
    decided = _approval(
        ts=ts,
        status="approved",
        decided_by="U0BOSS",
        decided_at=1_800_000_060.0,
        decision=Decision("approve", "U0BOSS"),
    )

    slack.refresh_card(decided)

    [update] = fake_slack.calls("chat.update")
    assert (update.params["channel"], update.params["ts"]) == (channel, ts)
    message = fake_slack.message(channel, ts)
    assert _buttons(message["blocks"]) == []
    assert "U0BOSS" in str(message["blocks"])


def test_a_card_never_posted_is_not_redrawn(slack, fake_slack):
    slack.refresh_card(_approval(ts=None))
    assert fake_slack.calls("chat.update") == []


def test_a_stale_copy_loses_its_buttons_and_points_at_the_current_card(slack, fake_slack):
    _, ts = slack.post_card(_approval())
    slack.retire_copy("C0CARDS", ts, "https://slack.test/current")
    message = fake_slack.message("C0CARDS", ts)
    assert _buttons(message["blocks"]) == []
    assert "<https://slack.test/current|the current card>" in message["text"]
    slack.retire_copy("C0CARDS", ts, None)
    assert "the newest card for it" in fake_slack.message("C0CARDS", ts)["text"]


def test_tell_is_an_ephemeral_for_one_person(slack, fake_slack):
    slack.tell("C0CARDS", "U0BOB", "Nothing changed.")
    [entry] = fake_slack.ephemerals("C0CARDS")
    assert (entry["user"], entry["text"]) == ("U0BOB", "Nothing changed.")


def test_a_reply_is_cut_to_slacks_limit_and_does_not_unfurl(slack, fake_slack):
    _, parent = slack.post_card(_approval())
    ts = slack.reply("C0CARDS", parent, "x" * (MESSAGE_LIMIT + 500))
    [call] = [c for c in fake_slack.calls("chat.postMessage") if c.params.get("thread_ts")]
    assert call.params["thread_ts"] == parent
    assert len(call.params["text"]) <= MESSAGE_LIMIT
    assert [m["ts"] for m in fake_slack.replies("C0CARDS", parent)] == [ts]


def test_a_dm_goes_to_the_user(slack, fake_slack):
    slack.dm("U0BOB", "Your card could not be posted.")
    [call] = fake_slack.calls("chat.postMessage")
    assert call.params["channel"] == "U0BOB"
    assert call.params["text"] == "Your card could not be posted."


def test_agent_text_is_escaped_and_split_into_messages(slack, fake_slack):
    said = slack.post_text("C0OUT", "<!here> " + "y" * (2 * MESSAGE_LIMIT))
    posts = fake_slack.calls("chat.postMessage")
    assert len(posts) == 3
    assert all(len(p.params["text"]) <= MESSAGE_LIMIT for p in posts)
    assert posts[0].params["text"].startswith("&lt;!here&gt;")
    assert said == f"Posted to C0OUT (message {posts[-1].response['ts']})"
    slack.post_text("C0OUT", "")
    assert fake_slack.calls("chat.postMessage")[-1].params["text"] == "(empty message)"


def test_a_permalink_or_none_when_slack_cannot_give_one(slack):
    _, ts = slack.post_card(_approval())
    link = slack.permalink("C0CARDS", ts)
    assert link is not None and "C0CARDS" in link
    assert slack.permalink("C0CARDS", "1.000") is None  # message_not_found: logged, not raised


def test_a_user_groups_members(slack, fake_slack):
    fake_slack.usergroups["S0TEAM"] = ["U1", "U2"]
    assert slack.group_members("S0TEAM") == ["U1", "U2"]


def test_a_rate_limited_call_is_retried_after_slack_says(fake_slack):
    client = make_client(fake_slack.bot_token, fake_slack.api_url, retry_server_errors=False)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)

    Slack(client).reply("C0CARDS", None, "hello")

    calls = fake_slack.calls("chat.postMessage")
    assert [c.fault for c in calls] == ["429", None]
    assert calls[-1].ok


def test_a_server_error_is_the_callers_to_retry_when_asked_and_every_failure_is_counted(
    fake_slack,
):
    failed: list[str] = []
    client = make_client(
        fake_slack.bot_token, fake_slack.api_url, failed=failed.append, retry_server_errors=False
    )
    fake_slack.fail_next("chat.postMessage", status=500, error="internal_error")

    with pytest.raises(SlackApiError):
        Slack(client).reply("C0CARDS", None, "hello")

    assert len(fake_slack.calls("chat.postMessage")) == 1
    assert failed == ["chat.postMessage"]


def test_refusals_are_the_errors_the_same_post_would_get_again(fake_slack, slack):
    fake_slack.set_channel("C0GONE", exists=False)
    with pytest.raises(SlackApiError) as gone:
        slack.post_card(_approval(channel="C0GONE"))
    assert refusal(gone.value) == "channel_not_found"

    fake_slack.fail_next("chat.postMessage", status=200, error="ratelimited", retry_after=None)
    with pytest.raises(SlackApiError) as limited:
        slack.reply("C0CARDS", None, "hi")
    assert refusal(limited.value) is None
    assert refusal(RuntimeError("no")) is None
    assert {"channel_not_found", "not_in_channel", "is_archived", "invalid_blocks"} <= REFUSALS


def test_a_post_whose_answer_is_cut_off_is_not_sent_again():
    """Slack took the post, then the connection dropped before its answer: sending it again
    would post twice (chat.postMessage is not idempotent), so the client does not retry it --
    slack_sdk's WebClient does by default (``ConnectionErrorRetryHandler``). The caller hears
    the error; the effect ledger records the outcome as unknown."""
    received: list[bytes] = []
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.settimeout(5)
                body, _ = read_request(conn)
                received.append(body)  # taken, and then no answer: the connection just ends

    threading.Thread(target=serve, daemon=True).start()
    client = make_client("xoxb-test", f"http://127.0.0.1:{port}/api/", timeout=5)
    try:
        with pytest.raises(Exception) as cut:
            Slack(client).reply("C0CARDS", None, "hello")
    finally:
        server.close()

    assert not isinstance(cut.value, SlackApiError)  # no answer at all: the outcome is unknown
    assert len(received) == 1


def test_a_server_error_is_retried_only_where_sending_again_leaves_nothing_twice(fake_slack):
    """An update or an ephemeral note answered 500 is sent again (twice is harmless); a post
    answered 500 is not (Slack may have posted it); any call answered 503 is, since Slack says
    it did nothing."""
    slack = Slack(make_client(fake_slack.bot_token, fake_slack.api_url))
    ts = slack.reply("C0CARDS", None, "first")
    fake_slack.fail_next("chat.update", status=500, error="internal_error", acted=True)
    slack.client.chat_update(channel="C0CARDS", ts=ts, text="edited")
    assert [c.fault for c in fake_slack.calls("chat.update")] == ["500", None]

    fake_slack.fail_next("chat.postMessage", status=500, error="internal_error", acted=True)
    with pytest.raises(SlackApiError) as posted:
        slack.reply("C0CARDS", None, "second")
    assert uncertain(posted.value) and not not_done(posted.value)

    fake_slack.fail_next("chat.postMessage", status=503, error="service_unavailable")
    slack.reply("C0CARDS", None, "third")
    assert [c.fault for c in fake_slack.calls("chat.postMessage")] == [None, "500", "503", None]
    assert [m["text"] for m in fake_slack.messages("C0CARDS")] == ["edited", "second", "third"]

    fake_slack.fail_next("chat.postMessage", status=200, error="ratelimited", retry_after=None)
    with pytest.raises(SlackApiError) as refused:
        slack.reply("C0CARDS", None, "fourth")
    assert not_done(refused.value) and not uncertain(refused.value)

    # An ephemeral note is sent again: its one reader may see it twice, never not at all.
    fake_slack.fail_next("chat.postEphemeral", status=500, error="internal_error")
    slack.tell("C0CARDS", "U0ASKER", "You can't approve this request.")
    assert [c.fault for c in fake_slack.calls("chat.postEphemeral")] == ["500", None]


def test_a_429_asking_for_longer_than_the_clients_timeout_is_the_callers_at_once(fake_slack):
    """Retry-After is honoured only while one call's waits stay within SLACK_TIMEOUT: a minute's
    Retry-After, slept up to five times, held a listener, a worker or the tick that long."""
    client = make_client(fake_slack.bot_token, fake_slack.api_url, timeout=2)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=60)
    began = time.monotonic()
    with pytest.raises(SlackApiError) as refused:
        Slack(client).reply("C0CARDS", None, "hello")
    assert refused.value.response.status_code == 429
    assert time.monotonic() - began < 2
    assert [c.fault for c in fake_slack.calls("chat.postMessage")] == ["429"]


def test_429s_are_retried_only_while_their_waits_fit_the_clients_timeout(fake_slack):
    client = make_client(fake_slack.bot_token, fake_slack.api_url, timeout=3)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1, times=3)
    with pytest.raises(SlackApiError):
        Slack(client).reply("C0CARDS", None, "hello")
    # 1 s and up to 1 s of jitter each: one retry fits in 3 s, a second would not.
    assert [c.fault for c in fake_slack.calls("chat.postMessage")] == ["429", "429"]


def test_a_slash_commands_answer_is_posted_on_its_response_url_within_the_timeout(fake_slack):
    """Bolt's own ``respond`` gave each read 30 s and the whole call no limit: a response_url
    trickling its answer held the listener as long as it liked."""
    client = make_client(fake_slack.bot_token, fake_slack.api_url, timeout=1)
    Slack(client).respond(fake_slack.response_url("cmd"), "Nothing is waiting.")
    [answer] = fake_slack.calls("response_url")
    assert answer.params["text"] == "Nothing is waiting."
    assert answer.params["response_type"] == "ephemeral"
    with TrickleServer(every=0.5) as hooks:
        began = time.monotonic()
        with pytest.raises(OSError):  # the socket shut at the deadline
            Slack(client).respond(hooks.url("/commands/1"), "Nothing is waiting.")
        assert time.monotonic() - began < 2


def test_server_errors_are_retried_only_within_the_clients_timeout_as_a_whole(fake_slack):
    """SLACK_TIMEOUT bounds a call as a whole: a Slack answering 503 slowly, retried three
    times, held the caller (a click's user-group lookup under its run's sign-off lock, the
    tick) four times as long."""
    client = make_client(fake_slack.bot_token, fake_slack.api_url, timeout=2)
    fake_slack.usergroups["S0TEAM"] = ["U1"]
    fake_slack.set_latency("usergroups.users.list", 0.8)
    fake_slack.fail_next("usergroups.users.list", status=503, retry_after=None, times=3)
    began = time.monotonic()
    with pytest.raises((SlackApiError, TimeoutError)):  # the 503, or a try cut off at the time
        Slack(client).group_members("S0TEAM")
    assert time.monotonic() - began < 2.5


def test_a_post_answered_503_slowly_is_posted_on_its_retry_not_cut_off_as_unknown(fake_slack):
    """A 503 says Slack posted nothing, so the post is sent again; cut off on that try with what
    was left of the first's time, a result Slack said it never posted became "outcome unknown"
    (never posted again), where the retry given its whole time posted it."""
    slack = Slack(make_client(fake_slack.bot_token, fake_slack.api_url, timeout=4))
    fake_slack.set_latency("chat.postMessage", 1.8)
    fake_slack.fail_next("chat.postMessage", status=503, error="service_unavailable")
    slack.reply("C0CARDS", None, "the result")
    assert [c.fault for c in fake_slack.calls("chat.postMessage")] == ["503", None]
    assert [m["text"] for m in fake_slack.messages("C0CARDS")] == ["the result"]


def test_a_post_answered_429_is_posted_on_its_retry_not_cut_off_as_unknown(fake_slack):
    """A 429 says Slack posted nothing, so the post is sent again after its Retry-After; cut
    off on that try with what was left of the first's time, it became "outcome unknown"."""
    slack = Slack(make_client(fake_slack.bot_token, fake_slack.api_url, timeout=4))
    fake_slack.set_latency("chat.postMessage", 1.5)
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=1)
    slack.reply("C0CARDS", None, "the result")
    assert [c.fault for c in fake_slack.calls("chat.postMessage")] == ["429", None]
    assert [m["text"] for m in fake_slack.messages("C0CARDS")] == ["the result"]
