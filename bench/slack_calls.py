"""One Slack Web API call over TLS, as against slack.com: the bot's client (kept-alive
connections, ``bot.slack.keepalive``) against slack_sdk's ``WebClient`` as it comes (a new
connection and TLS handshake for every call), both to the fake Slack served over HTTPS on
loopback. On a real network each handshake also costs round trips; here only the work shows."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from slack_sdk import WebClient

from bot.slack.web_client import make_client
from tests.fakes.slack import FakeSlack
from tests.support.tls import self_signed


def call_ms(calls: int, rounds: int) -> dict[str, float]:
    """Median milliseconds a ``chat.postMessage`` takes, and the calling thread's CPU for it,
    for each client, in alternating rounds."""
    with tempfile.TemporaryDirectory(prefix="bench-tls-") as tmp:
        certificate = self_signed(Path(tmp))
        with FakeSlack(tls=certificate.server_context()) as slack:
            trusted = certificate.client_context()
            ours = make_client(slack.bot_token, slack.api_url, tls=trusted)
            plain = WebClient(token=slack.bot_token, base_url=slack.api_url, ssl=trusted)
            wall: tuple[list[float], list[float]] = ([], [])
            cpu: tuple[list[float], list[float]] = ([], [])
            for r in range(rounds):
                for which in (0, 1) if r % 2 == 0 else (1, 0):
                    client = ours if which == 0 else plain
                    client.chat_postMessage(channel="C0BENCH", text="warm up")
                    for _ in range(calls):
                        began, began_cpu = time.perf_counter(), time.thread_time()
                        client.chat_postMessage(channel="C0BENCH", text="a result")
                        wall[which].append(1000 * (time.perf_counter() - began))
                        cpu[which].append(1000 * (time.thread_time() - began_cpu))
                    slack.reset()  # the fake's record of calls stays small
    return {
        "slack_call_ms": statistics.median(wall[0]),
        "slack_call_ms_sdk": statistics.median(wall[1]),
        "slack_call_cpu_ms": statistics.median(cpu[0]),
        "slack_call_cpu_ms_sdk": statistics.median(cpu[1]),
    }
