"""The Socket Mode transport: Slack's requests come as envelopes over a WebSocket the bot opens
(``SLACK_APP_TOKEN``), and each is acked back over it, as soon as its listener acks.

slack_sdk's client queues each envelope as it comes off the WebSocket, then hands it to one of
its threads (10): under a burst, an envelope waits there behind others while Slack's 3 s run.
So its arrival is noted as it comes off the WebSocket, and its time before the ack is counted
from then, as an HTTP request's is from its arrival (``dispatch``)."""

from __future__ import annotations

import json
import time
from contextlib import nullcontext
from typing import Any

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode.base_handler import BaseSocketModeHandler
from slack_bolt.adapter.socket_mode.internals import build_headers, send_response
from slack_sdk.socket_mode.builtin import SocketModeClient

from bot.http.asgi import dispatch
from bot.runtime.metrics import Metrics
from bot.runtime.worker import AckFirst

# The ack metric's kind of a Socket Mode envelope, as bot.http.asgi names an HTTP request's.
ACK_KINDS = {"slash_commands": "command", "interactive": "interaction", "events_api": "event"}
PING_INTERVAL = 10.0  # seconds, as Bolt's own SocketModeHandler sets it


class ArrivalsNoted(SocketModeClient):
    """slack_sdk's built-in client, noting when each envelope came off the WebSocket (on its
    receiving thread, before the envelope is queued)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._arrivals: dict[str, float] = {}  # envelope id -> when it came (monotonic)

    def enqueue_message(self, message: str) -> None:
        came = time.monotonic()
        envelope_id = _envelope_id(message)
        if envelope_id is not None:
            self._arrivals[envelope_id] = came
        super().enqueue_message(message)

    def arrival(self, envelope_id: str) -> float:
        """When the envelope came (now, if it was not noted), forgotten once asked for."""
        came = self._arrivals.pop(envelope_id, None)
        return time.monotonic() if came is None else came


class AckFirstHandler(BaseSocketModeHandler):
    """Bolt's handler; a request counts as being answered until its ack is sent back, which
    goes back as soon as the listener acks (``dispatch``), as over HTTP, and is measured
    as an HTTP answer is (``slack_ack_seconds``, from its arrival)."""

    client: ArrivalsNoted

    def __init__(
        self, app: App, app_token: str, acks: AckFirst | None, metrics: Metrics | None
    ) -> None:
        self.app, self.acks, self.metrics = app, acks, metrics
        self.client = ArrivalsNoted(
            app_token=app_token,
            logger=app.logger,
            web_client=app.client,
            proxy=app.client.proxy,
            ping_interval=PING_INTERVAL,
        )
        self.client.socket_mode_request_listeners.append(self.handle)

    def handle(self, client: Any, req: Any) -> None:
        arrived = self.client.arrival(req.envelope_id)
        with self.acks.answering() if self.acks else nullcontext():
            start = time.time()
            headers = build_headers(req)
            request = BoltRequest(mode="socket_mode", body=req.payload, headers=headers)
            send_response(client, req, dispatch(self.app, request, arrived), start)
        if self.metrics is not None:
            kind = ACK_KINDS.get(req.type, "event")
            self.metrics.ack.labels(kind=kind).observe(time.monotonic() - arrived)


def _envelope_id(message: str) -> str | None:
    """The envelope id of a message from Slack that is a request (one slack_sdk hands to
    ``handle``: with a type, an id and a payload), else None (``hello``, ``disconnect``)."""
    try:
        parsed = json.loads(message)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or not {"type", "envelope_id", "payload"} <= parsed.keys():
        return None
    envelope_id = parsed["envelope_id"]
    return envelope_id if isinstance(envelope_id, str) else None
