"""The Socket Mode transport: Slack's requests come as envelopes over a WebSocket the bot opens
(``SLACK_APP_TOKEN``), and each is acked back over it, as soon as its listener acks."""

from __future__ import annotations

import time
from contextlib import nullcontext
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.internals import build_headers, send_response

from bot.http.asgi import dispatch
from bot.runtime.metrics import Metrics
from bot.runtime.worker import AckFirst

# The ack metric's kind of a Socket Mode envelope, as bot.http.asgi names an HTTP request's.
ACK_KINDS = {"slash_commands": "command", "interactive": "interaction", "events_api": "event"}


class AckFirstHandler(SocketModeHandler):
    """Bolt's handler; a request counts as being answered until its ack is sent back, which
    goes back as soon as the listener acks (``dispatch``), as over HTTP, and is measured
    as an HTTP answer is (``slack_ack_seconds``)."""

    def __init__(
        self, app: App, app_token: str, acks: AckFirst | None, metrics: Metrics | None
    ) -> None:
        super().__init__(app, app_token)
        self.acks, self.metrics = acks, metrics

    def handle(self, client: Any, req: Any) -> None:
        began = time.perf_counter()
        with self.acks.answering() if self.acks else nullcontext():
            start = time.time()
            headers = build_headers(req)
            request = BoltRequest(mode="socket_mode", body=req.payload, headers=headers)
            send_response(client, req, dispatch(self.app, request), start)
        if self.metrics is not None:
            kind = ACK_KINDS.get(req.type, "event")
            self.metrics.ack.labels(kind=kind).observe(time.perf_counter() - began)
