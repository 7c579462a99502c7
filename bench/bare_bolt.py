"""The bare Bolt baseline: an ack-only Bolt app on the bot's own server stack.

Same HTTP stack as ``python -m bot`` (``bot.http.asgi.create_asgi``: uvicorn, Starlette, the
raw-body
signature check, Bolt dispatched through Starlette's thread pool, Bolt's listener pool of the same
size), with listeners that only ack: no database, no engine. It runs in a process of its own, as
the bot does, so the bench's client threads do not share its interpreter.

    python -m bench.bare_bolt PORT
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx

from tests.support.botproc import ROOT, free_port
from tests.support.slack_requests import SIGNING_SECRET


def build() -> Any:
    from slack_bolt import Ack, App
    from slack_bolt.authorization import AuthorizeResult

    from bot.http.asgi import create_asgi
    from bot.http.health import Health
    from bot.runtime.metrics import Metrics
    from bot.runtime.refresher import Refresher

    app = App(
        signing_secret=SIGNING_SECRET,
        # Who the app is, without asking Slack (the bot asks the fake Slack once, then caches).
        authorize=lambda **_: AuthorizeResult(
            enterprise_id=None, team_id="T1", bot_token="xoxb-bare", bot_user_id="UBARE"
        ),
        process_before_response=False,
        # The bot's listener pool (bot/slack/app.py), so the baseline differs only by the work done.
        listener_executor=ThreadPoolExecutor(max_workers=32, thread_name_prefix="bolt"),
    )

    @app.command("/agent")
    def agent(ack: Ack) -> None:
        ack(response_type="ephemeral", text="Started.")

    @app.action(re.compile(".*"))
    def click(ack: Ack) -> None:
        ack()

    health = Health(_Answers(), 30.0)
    Refresher([health.refresh], health.refresh_every, "health").start()  # as the bot does
    return create_asgi(app, SIGNING_SECRET, health, Metrics())


class _Answers:
    """A database that always answers (only ``/healthz``'s refresher asks, to say the server is
    up)."""

    def fetch_one_quick(self, sql: str, params: Any = None) -> dict[str, int]:
        return {"ok": 1}


@contextmanager
def bare_bolt() -> Iterator[str]:
    """Start the baseline in its own process; yields its URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.bare_bolt", str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"bare Bolt exited {proc.returncode}: {err[-2000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise RuntimeError("bare Bolt did not start within 30 s")


def main(argv: list[str]) -> None:
    import uvicorn

    uvicorn.run(build(), host="0.0.0.0", port=int(argv[0]), log_level="warning")


if __name__ == "__main__":
    main(sys.argv[1:])
