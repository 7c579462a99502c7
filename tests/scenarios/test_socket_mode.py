"""Socket Mode end to end: the real bot connects to the fake Slack's WebSocket (no HTTP server,
no signing secret) and the whole approval loop runs over envelopes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bot.slack.blocks import card as ids
from tests.support import slack_requests as sr
from tests.support.cards import blocks_text, current, has_buttons, wait_card
from tests.support.faults import wait_quiet
from tests.support.operations import metric, scrape_when

REQ = "U0REQ"


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def socket_bot(start_bot, fake_slack):
    """The bot in Socket Mode, connected. It serves no /healthz, so wait for its WebSocket."""
    bot = start_bot(wait=False, SLACK_APP_TOKEN=fake_slack.app_token, SLACK_SIGNING_SECRET="")
    bot.wait_until(lambda: fake_slack.socket_connected, "connect over Socket Mode")
    return bot


@pytest.mark.alone  # asserts the ack within 1.5 s
def test_approval_loop_over_the_websocket(socket_bot, fake_slack):
    [opened] = fake_slack.calls("apps.connections.open")
    assert opened.token == fake_slack.app_token

    text = "Draft a note that the build is green SLOW:2"  # the model takes 2 s to answer
    command = sr.command_payload(text, REQ, response_url=fake_slack.response_url("cmd"))
    began = time.monotonic()
    ack = fake_slack.send_envelope("slash_commands", command)
    assert time.monotonic() - began < 1.5  # acked first, the graph runs after the ack
    assert ack["payload"]["response_type"] == "ephemeral"
    assert ack["payload"]["text"].startswith("Started run `")
    assert "*draft* graph" in ack["payload"]["text"]

    card = wait_card(fake_slack)
    assert card.channel == "C0REQ"
    assert f"Draft: {text}" in card.text
    assert has_buttons(current(fake_slack, card))

    click = sr.click_payload(ids.APPROVE, card.approval_id, REQ, card.channel, card.ts)
    clicked = fake_slack.send_envelope("interactive", click)
    assert "payload" not in clicked  # a plain ack: nothing to show in place of the card

    [posted] = fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.params["text"] == f"Draft: {text}",
    )
    assert posted.params["channel"] == "C0REQ" and "thread_ts" not in posted.params
    [updated] = fake_slack.wait_for("chat.update")
    assert updated.params["ts"] == card.ts
    decided = current(fake_slack, card)
    assert not has_buttons(decided)
    assert "Approved* by <@U0REQ>" in blocks_text(decided["blocks"])
    [report] = fake_slack.wait_for("chat.postMessage", lambda c: c.params["thread_ts"] == card.ts)
    assert report.params["text"].startswith("Approved. Posted to C0REQ")

    # It all went over the one socket: no response_url posts, and no Slack endpoint over HTTP;
    # PORT serves only what a platform probes: the health check and the metrics.
    assert fake_slack.calls("response_url") == []
    assert fake_slack.socket_connection_count == 1
    assert socket_bot.http.post("/slack/events", content=b"{}").status_code == 404
    health = socket_bot.http.get("/healthz")
    assert health.status_code == 200 and health.json()["database"] == "ok"
    metrics = socket_bot.http.get("/metrics").text
    assert 'approval_decisions_total{outcome="approved"} 1.0' in metrics


def test_unknown_graph_is_answered_in_the_ack(socket_bot, fake_slack, database_url):
    ack = fake_slack.send_envelope("slash_commands", sr.command_payload("[nope] do it", REQ))
    assert ack["payload"]["text"].startswith("There is no graph called `nope`.")
    wait_quiet(database_url)  # nothing under way: had a run started, it would show
    assert fake_slack.calls("chat.postMessage") == []


def test_acks_over_the_websocket_are_measured(socket_bot, fake_slack):
    """``slack_ack_seconds`` counts the acks sent over the socket, by kind, as it counts the
    answers to HTTP requests (it stayed empty in Socket Mode)."""
    help_text = fake_slack.send_envelope("slash_commands", sr.command_payload("help", REQ))
    assert "payload" in help_text
    click = sr.click_payload("no_such_button", "0" * 32, REQ, "C0REQ", "1.000")
    fake_slack.send_envelope("interactive", click)

    scraped = scrape_when(socket_bot, 'slack_ack_seconds_count{kind="interaction"}', 1.0)
    assert metric(scraped, 'slack_ack_seconds_count{kind="command"}') == 1.0
    assert metric(scraped, 'slack_ack_seconds_bucket{kind="command",le="3.0"}') == 1.0


def test_reconnects_when_slack_asks_and_keeps_working(socket_bot, fake_slack):
    fake_slack.send_disconnect("refresh_requested")
    socket_bot.wait_until(lambda: fake_slack.socket_connection_count == 2, "reconnect", 15)
    fake_slack.wait_socket_connected()
    ack = fake_slack.send_envelope("slash_commands", sr.command_payload("Say hello", REQ))
    assert ack["payload"]["text"].startswith("Started run `")
    assert "Draft: Say hello" in wait_card(fake_slack).text


def test_sigterm_closes_the_socket_and_exits_cleanly(socket_bot, fake_slack):
    assert socket_bot.proc is not None
    socket_bot.proc.terminate()
    assert socket_bot.proc.wait(10) == 0, socket_bot.log()
    assert not fake_slack.socket_connected
    assert "Socket Mode connection closed" in socket_bot.log()


def test_a_rejected_app_token_is_named_at_startup(start_bot, fake_slack):
    bot = start_bot(wait=False, SLACK_APP_TOKEN="xapp-revoked")
    assert bot.proc is not None and bot.proc.wait(20) == 2, bot.log()
    assert "Slack rejected SLACK_APP_TOKEN (apps.connections.open: invalid_auth)" in bot.log()
    assert "Traceback" not in bot.log()
