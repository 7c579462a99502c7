"""Run the real bot (`python -m bot`) as a process of its own and talk to it as Slack does.

Started through the test worker's prefork server (``tests/support/prefork.py``: the same
``python -m bot``, forked after the imports) unless ``prefork=False`` or
``BOT_TESTS_PREFORK=0``; the bench starts it with ``subprocess.Popen``."""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from bot.slack.listeners.binding import modal_key, seal, unseal
from tests.support import prefork as forks
from tests.support import slack_requests as sr

ROOT = forks.ROOT
RECORD = re.compile(r"\d{4}-\d\d-\d\d ")  # a log record's first line starts with its time


WORKER_SLICES = 16  # pytest-xdist workers' shares of the ports free_port picks from


def free_port() -> int:
    """A port nothing listens on, picked below the kernel's ephemeral range: a port the kernel
    handed out (bind to 0) can be given again to any outgoing connection -- a test's own
    client, a database session -- before the bot gets to listen on it (CI saw "Could not
    listen on PORT"). Each pytest-xdist worker picks from a share of its own: a port is free
    when picked, not yet listened on for the second or so a bot takes to start, and another
    worker picking the same one meanwhile made the bot fail to start (CI saw that too)."""
    low, _ = _ephemeral_range()
    first = max(1024, low - 12000)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if worker.startswith("gw") and worker[2:].isdigit():
        size = (low - first) // WORKER_SLICES
        first += int(worker[2:]) % WORKER_SLICES * size
        low = first + size
    while True:
        port = random.randrange(first, low)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


class BotProcess:
    def __init__(
        self, env: dict[str, str], log_path: Path, slack: Any = None, *, prefork: bool = True
    ) -> None:
        """``slack``: the FakeSlack the bot talks to, so clicks come from the card's message."""
        self.slack = slack
        self.prefork = prefork and forks.enabled()
        self.port = int(env.get("PORT") or free_port())
        self.env = {**os.environ, **env, "PORT": str(self.port)}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | forks.PreforkedProcess | None = None
        self.url = f"http://127.0.0.1:{self.port}"
        self.http = httpx.Client(base_url=self.url, timeout=10)

    def start(self, wait: bool = True) -> BotProcess:
        """Start the bot; ``wait`` blocks until ``/healthz`` answers (HTTP mode only: in Socket
        Mode start with ``wait=False`` and use :meth:`wait_until` on the socket instead)."""
        if self.prefork:
            self.proc = forks.spawn_bot(self.env, ROOT, self.log_path)
        else:
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    [sys.executable, "-m", "bot"], cwd=ROOT, env=self.env, stdout=log, stderr=log
                )
        if wait:
            self.wait_ready()
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None, "start() the bot first"
        return self.proc.pid

    def wait_ready(self, timeout: float = 30) -> None:
        self.wait_until(self._healthy, "answer GET /healthz", timeout)

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 30) -> None:
        """Poll ``ready`` until it is true; fail at once, with the log, if the bot exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None, "start() the bot first"
            if self.proc.poll() is not None:
                raise AssertionError(f"bot exited {self.proc.returncode}:\n{self.log()}")
            if ready():
                return
            time.sleep(0.1)
        raise AssertionError(f"bot did not {what} within {timeout}s:\n{self.log()}")

    def _healthy(self) -> bool:
        try:
            return self.http.get("/healthz").status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def problems(self, limit: int = 12000) -> str:
        """The log's warnings and errors, each with its traceback (the last ``limit``
        characters of them)."""
        kept: list[str] = []
        keep = False
        for line in self.log_path.read_text(errors="replace").splitlines():
            if RECORD.match(line):  # a record starts: kept if it is a warning or worse
                keep = any(f" {level} " in line for level in ("WARNING", "ERROR", "CRITICAL"))
            if keep:  # the record, and the lines of its traceback
                kept.append(line)
        return "\n".join(kept)[-limit:]

    def kill(self) -> None:
        """kill -9: no clean-up, as in a crash."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
        self.http.close()

    # requests, signed as Slack signs them --------------------------------------
    def send(self, body: bytes, **sign_kwargs: Any) -> httpx.Response:
        headers = sr.sign(body, **sign_kwargs)
        return self.http.post("/slack/events", content=body, headers=headers)

    def command(self, text: str, user: str = "U0REQ", channel: str = "C0REQ") -> httpx.Response:
        """``/agent <text>``; answers sent to its response_url reach the fake Slack."""
        hook = self.slack.response_url("cmd") if self.slack is not None else None
        if hook is None:
            return self.send(sr.command_body(text, user, channel))
        return self.send(sr.command_body(text, user, channel, hook))

    def click(self, action_id: str, approval_id: str, user: str, **kw: Any) -> httpx.Response:
        """A click on the card's button, sent from the card's own message (channel and ts) as
        Slack sends it, unless ``channel``/``ts`` say otherwise."""
        if "ts" not in kw and self.slack is not None:
            where = self._card_of(approval_id)
            if where is not None:
                kw = {"channel": where[0], "ts": where[1], **kw}
        if "blocks" not in kw and self.slack is not None and "ts" in kw:
            shown = self._message(kw.get("channel", "C0REQ"), kw["ts"])
            kw = {**kw, "blocks": shown}
        return self.send(sr.click_body(action_id, approval_id, user, **kw))

    def _card_of(self, approval_id: str) -> tuple[str, str] | None:
        for call in self.slack.calls("chat.postMessage"):
            blocks = call.params.get("blocks") or []
            ids = [b.get("block_id") for b in blocks if isinstance(b, dict)]
            if f"decide:{approval_id}" in ids and call.ok:
                return str(call.response["channel"]), str(call.response["ts"])
        return None

    def _message(self, channel: str, ts: str) -> list[dict[str, Any]] | None:
        """The clicked message's blocks as Slack shows them now (None if it doesn't exist)."""
        try:
            return self.slack.message(channel, ts).get("blocks")
        except (KeyError, LookupError, AssertionError):
            return None

    def submit(
        self,
        callback_id: str,
        approval_id: str,
        user: str,
        values: dict[str, Any],
        as_opened: bool = True,
    ) -> httpx.Response:
        """A modal submitted, with the ``private_metadata`` the bot gave the view it opened for
        the request (``approval_id``, or ``<id>:<button name>``) as Slack sends it back: the
        last such view opened, else (a form opened for ``user`` before it shows up in the fake,
        or before a restart) the binding the bot makes for version 1. ``as_opened=False``:
        ``approval_id`` is sent as it is (a forged or foreign form)."""
        metadata = approval_id
        if as_opened:
            metadata = self.opened(callback_id, approval_id, user) or self._bound(approval_id, user)
        return self.send(sr.submission_body(callback_id, metadata, user, values))

    def _bound(self, approval_id: str, user: str) -> str:
        request, _, name = approval_id.partition(":")
        return seal(self._key(), request, 1, user, name)

    def _key(self) -> bytes:
        return modal_key(self.env.get("SLACK_BOT_TOKEN"), self.env.get("SLACK_SIGNING_SECRET"))

    def opened(self, callback_id: str, approval_id: str, user: str | None = None) -> str | None:
        """The metadata of the last view with ``callback_id`` the bot opened for the request
        (for ``user``, when given: the binding names whom it was opened for)."""
        if self.slack is None:
            return None
        request, _, name = approval_id.partition(":")
        for call in reversed(self.slack.calls("views.open")):
            view = call.params.get("view") or {}
            metadata = str(view.get("private_metadata") or "")
            bound = unseal(self._key(), metadata, user) if user else None
            parts = metadata.split(":")
            named = parts[3] if len(parts) > 3 else ""
            mine = user is None or bound is not None
            same = view.get("callback_id") == callback_id and parts[0] == request
            if same and named == name and mine:
                return metadata
        return None
