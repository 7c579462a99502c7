"""The Slack client's kept-alive connections (bot.slack.keepalive): one connection serves call
after call, from any thread; one the server closed, or one idle too long, is never used; and no
call is ever sent twice because a kept connection failed under it."""

from __future__ import annotations

import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.error import URLError

import pytest
from slack_sdk.errors import SlackApiError

from bot.core.effect_errors import outcome_unknown
from bot.slack import keepalive
from bot.slack.client import Slack
from bot.slack.keepalive import Connections
from bot.slack.web_client import make_client
from tests.fakes.slack import FakeSlack
from tests.fakes.trickle import TrickleServer
from tests.support.bounded import ended_within
from tests.support.raw_http import read_request
from tests.support.tls import self_signed


@pytest.fixture
def slack(fake_slack) -> Slack:
    return Slack(make_client(fake_slack.bot_token, fake_slack.api_url))


def test_calls_one_after_another_share_one_connection(fake_slack, slack):
    ts = slack.reply("C0CARDS", None, "first")
    slack.client.chat_update(channel="C0CARDS", ts=ts, text="first, edited")
    for n in range(5):
        slack.reply("C0CARDS", ts, f"reply {n}")
    assert [m["text"] for m in fake_slack.messages("C0CARDS")] == ["first, edited"]
    assert len(fake_slack.replies("C0CARDS", ts)) == 5
    assert fake_slack.connections == 1  # slack_sdk alone opens one for each of the 7 calls


def test_threads_calling_at_once_each_get_a_connection_and_then_share_them(fake_slack, slack):
    fake_slack.set_latency("chat.postMessage", 0.2)  # all four in flight together
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: slack.reply("C0CARDS", None, f"at once {n}"), range(4)))
    at_once = fake_slack.connections
    fake_slack.set_latency("chat.postMessage", 0.0)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda n: slack.reply("C0CARDS", None, f"later {n}"), range(8)))
    assert len(fake_slack.messages("C0CARDS")) == 12
    assert at_once == 4 and fake_slack.connections <= 4  # the later calls opened none


def test_a_connection_the_server_closed_while_idle_is_not_used_and_the_call_goes_once(
    fake_slack, slack
):
    slack.reply("C0CARDS", None, "before")
    fake_slack.drop_connections()  # as Slack does with a connection left idle
    slack.reply("C0CARDS", None, "after")
    assert [c.params["text"] for c in fake_slack.calls("chat.postMessage")] == ["before", "after"]
    assert [m["text"] for m in fake_slack.messages("C0CARDS")] == ["before", "after"]
    assert fake_slack.connections == 2


def test_a_connection_idle_longer_than_servers_keep_one_is_closed_not_used(fake_slack):
    now = [0.0]
    client = make_client(fake_slack.bot_token, fake_slack.api_url)
    client.connections = Connections(5, clock=lambda: now[0])
    slack = Slack(client)
    slack.reply("C0CARDS", None, "one")
    now[0] += keepalive.IDLE_FOR - 1
    slack.reply("C0CARDS", None, "two")
    assert fake_slack.connections == 1
    now[0] += keepalive.IDLE_FOR + 1
    slack.reply("C0CARDS", None, "three")
    assert fake_slack.connections == 2
    assert len(fake_slack.messages("C0CARDS")) == 3


def test_an_error_answer_is_read_as_slack_sdk_reads_it_and_the_connection_kept(fake_slack, slack):
    fake_slack.fail_next("chat.postMessage", status=429, retry_after=0)
    slack.reply("C0CARDS", None, "after a 429")  # slack_sdk's handler read Retry-After
    fake_slack.fail_next("chat.postMessage", status=500, error="internal_error")
    with pytest.raises(SlackApiError) as failed:  # a plain-text 5xx, not sent again
        slack.reply("C0CARDS", None, "never")
    assert failed.value.response.status_code == 500
    fake_slack.set_channel("C0GONE", exists=False)
    with pytest.raises(SlackApiError) as gone:
        slack.reply("C0GONE", None, "nowhere")
    assert gone.value.response["error"] == "channel_not_found"
    assert [m["text"] for m in fake_slack.messages("C0CARDS")] == ["after a 429"]
    assert fake_slack.connections == 1


def test_a_call_cut_off_on_a_kept_connection_is_not_sent_again():
    """The server answers the first call and keeps the connection; it reads the second and
    ends the connection without an answer. The second was taken: it must not go again, on this
    connection or a new one."""
    received: list[bytes] = []
    accepted: list[int] = []
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    reply = b'{"ok": true, "channel": "C1", "ts": "1"}'
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(reply)}"
    answer = head.encode() + b"\r\n\r\n" + reply

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            accepted.append(1)
            with conn:
                conn.settimeout(5)
                body, left = read_request(conn)
                received.append(body)
                conn.sendall(answer)
                body, _ = read_request(conn, left)
                received.append(body)  # taken, and then no answer: the connection just ends

    threading.Thread(target=serve, daemon=True).start()
    slack = Slack(make_client("xoxb-test", f"http://127.0.0.1:{port}/api/", timeout=5))
    try:
        assert slack.reply("C1", None, "first") == "1"
        with pytest.raises(Exception) as cut:
            slack.reply("C1", None, "second")
    finally:
        server.close()

    assert not isinstance(cut.value, SlackApiError)  # no answer at all: the outcome is unknown
    assert len(received) == 2 and len(accepted) == 1


def test_over_tls_as_slack_serves_it_calls_share_one_session(tmp_path):
    """Slack's API is HTTPS: kept alive, the handshake is paid once, not on every call."""
    certificate = self_signed(tmp_path)
    with FakeSlack(tls=certificate.server_context()) as fake_slack:
        trusted = certificate.client_context()
        slack = Slack(make_client(fake_slack.bot_token, fake_slack.api_url, tls=trusted))
        ts = slack.reply("C0CARDS", None, "over TLS")
        slack.client.chat_update(channel="C0CARDS", ts=ts, text="over TLS, edited")
        slack.reply("C0CARDS", ts, "a reply")
        assert fake_slack.api_url.startswith("https://")
        assert [m["text"] for m in fake_slack.messages("C0CARDS")] == ["over TLS, edited"]
        assert fake_slack.connections == 1


def test_a_server_trickling_its_answer_is_cut_off_at_the_clients_timeout():
    """A byte every 0.3 s keeps every socket read inside a 1 s timeout; the call as a whole
    still ends at 1 s, as SLACK_TIMEOUT says, and is not sent again."""
    with TrickleServer(every=0.3) as server:
        slack = Slack(make_client("xoxb-test", f"{server.base_url}/api/", timeout=1))
        began = time.monotonic()
        with pytest.raises(TimeoutError, match="no answer within 1 s"):
            slack.reply("C0CARDS", None, "hello")
        took = time.monotonic() - began
        assert len(server.hits()) == 1
    assert 1.0 <= took < 2.0


def test_a_host_whose_lookup_hangs_is_given_up_on_at_the_timeout(hanging_dns):
    """getaddrinfo has no timeout, and there is no socket yet for the deadline to shut down: the
    lookup is bounded by the call's time on its own. Nothing was sent; the call raises as
    ``urlopen`` does for a connect that timed out."""
    connections = Connections(timeout=1)
    url = "http://slack.dns-hangs.test/api/chat.postMessage"
    took, raised = ended_within(3.0, lambda: connections.post(url, b"{}", []))
    assert hanging_dns.is_set()
    assert isinstance(raised, URLError) and str(raised.reason) == "no answer within 1 s"
    assert 1.0 <= took < 3.0


def test_a_tls_handshake_trickled_a_byte_at_a_time_is_cut_off_at_the_timeout():
    """The server's first handshake record announces 16 KiB and sends it a byte every 0.3 s:
    each read of the handshake is in time, the handshake would take over an hour. CPython
    bounds a handshake as a whole by the socket timeout, so the call ends at the timeout, as
    a timeout (the ledger's "outcome unknown"), before anything was sent."""
    record = b"\x16\x03\x03\x40\x00" + bytes(64)  # a handshake record, 16,384 bytes long
    with TrickleServer(every=0.3, answer=record, greet=True) as server:
        url = server.base_url.replace("http://", "https://") + "/api/"
        slack = Slack(make_client("xoxb-test", url, timeout=1))
        began = time.monotonic()
        with pytest.raises(URLError) as cut:
            slack.reply("C0CARDS", None, "hello")
        took = time.monotonic() - began
    assert isinstance(cut.value.reason, TimeoutError) and outcome_unknown(cut.value)
    assert 1.0 <= took < 3.0  # bounded: the peer holds it far longer
