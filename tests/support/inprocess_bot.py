"""The real bot's HTTP app (signature check, Bolt, listeners, engine) served in this process.

:class:`InProcessBot` talks as :class:`~tests.support.botproc.BotProcess` does (signed
``/agent`` commands, clicks sent from the card's own message, modal submissions) but builds the
bot with ``build_deps`` / ``build_app`` / ``create_asgi`` in the test's process and reaches it
through Starlette's test client: no interpreter to start, no port, no uvicorn. Background work
runs on the bot's own worker pool after the ack, as in production; the scheduler only ticks
when the test calls :meth:`tick` after moving the :class:`~tests.support.inprocess.Clock`, so
reminders, escalations and expiry need no waiting.

What it cannot show (crashes, signals, Socket Mode, uvicorn's own behaviour, start-up errors,
several processes sharing a database) stays in ``tests/scenarios`` on the real process.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, wait
from pathlib import Path
from typing import Any

import pytest
from slack_bolt import App
from starlette.testclient import TestClient

from bot.config import load_settings
from bot.http.asgi import create_asgi
from bot.runtime.refresher import Refresher
from bot.runtime.worker import ListenerPool
from bot.slack.app import LISTENER_THREADS
from bot.wiring import Deps, build_deps, slack_app
from tests.support.botproc import BotProcess
from tests.support.inprocess import Clock, quick_retries


class InProcessBot(BotProcess):
    def __init__(self, env: dict[str, str], log_path: Path, slack: Any, clock: Clock) -> None:
        super().__init__(env, log_path, slack)
        self.http.close()  # the parent's client for a real port; this bot has none
        self.clock = clock
        self.deps: Deps | None = None
        self.app: App | None = None  # Bolt's, for a Socket Mode handler to drive
        self._listeners: set[Future[Any]] = set()
        self._refreshers: list[Refresher] = []
        self._sys_path: list[str] | None = None

    def start(self, wait: bool = True) -> InProcessBot:
        _forget_graph_modules(self.env.get("LANGGRAPH_CONFIG"))
        self._sys_path = list(sys.path)  # the registry may add a graph folder to it
        settings = load_settings({k: v for k, v in self.env.items() if k != "PORT"})
        # The bot's own worker pool: work still starts after the ack, as in production.
        self.deps = quick_retries(build_deps(settings, clock=self.clock))
        app = self.app = slack_app(self.deps)
        # Bolt runs each listener on its executor after the ack: keep its futures, so that
        # settle() knows when a click's listener (and what it handed the worker) has finished.
        runner = app.listener_runner
        runner.listener_executor = _Tracked(self._listeners)  # the app's own never started
        secret = settings.slack_signing_secret or ""
        deps = self.deps
        asgi = create_asgi(app, secret, deps.health, deps.metrics, deps.routes, deps.acks)
        self.http = TestClient(asgi, base_url=self.url)
        every = deps.health.refresh_every  # /healthz and /metrics read what these leave
        self._refreshers = [
            Refresher([deps.health.refresh], every, "health").start(),
            Refresher([deps.metrics.refresh], every, "metrics").start(),
        ]
        return self

    def restarted(self) -> InProcessBot:
        """What ``python -m bot`` does first when it starts: the recovery sweep of whatever the
        last process left half done (its inbox, claimed decisions, cards, runs), then waits
        until that work has finished. A bot started after another stopped is a restart."""
        assert self.deps is not None, "start() the bot first"
        self.deps.worker.submit(self.deps.engine.recover, 0.0)
        self.settle()
        return self

    def tick(self, advance: float = 0.0) -> int:
        """Move the clock by ``advance`` seconds, then run one scheduler tick, as the bot's
        interval job would."""
        assert self.deps is not None, "start() the bot first"
        self.clock.advance(advance)
        return self.deps.scheduler.tick()

    def settle(self, timeout: float = 20) -> None:
        """Wait until no listener runs and the worker pool has nothing queued or running:
        whatever the requests so far set off has happened."""
        assert self.deps is not None, "start() the bot first"
        worker = self.deps.worker
        deadline = time.monotonic() + timeout
        while busy := {f for f in self._listeners if not f.done()} | set(worker._open):
            assert time.monotonic() < deadline, f"{len(busy)} task(s) still running"
            wait(busy, timeout=max(0.0, deadline - time.monotonic()))

    def tick_until(
        self, ready: Callable[[], bool], what: str, advance: float, timeout: float = 30
    ) -> None:
        """Tick (moving the clock ``advance`` seconds each time, the work a tick started
        finished) until ``ready`` holds: the sweeps a running bot would make, without the wait
        between them."""
        deadline = time.monotonic() + timeout
        self.settle()
        while not ready():
            assert time.monotonic() < deadline, f"the bot did not {what} within {timeout}s"
            self.tick(advance)
            self.settle()

    def wait_ready(self, timeout: float = 30) -> None:
        return None

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float = 30) -> None:
        raise NotImplementedError("an in-process bot is ready once started")

    def log(self) -> str:
        return ""

    def kill(self) -> None:
        raise NotImplementedError("crashes need the real process: tests/scenarios")

    def stop(self) -> None:
        for refresher in self._refreshers:
            refresher.stop()
        self.http.close()
        if self.deps is not None:
            self.deps.worker.drain(10)  # nothing left running against a closed database
            self.deps.close()
            self.deps = None
        # Leave no graph module (built against this test's fakes) for a later test to find.
        _forget_graph_modules(self.env.get("LANGGRAPH_CONFIG"))
        if self._sys_path is not None:
            sys.path[:] = self._sys_path


class _Tracked(ListenerPool):
    """The bot's listener pool, remembering the futures it hands out."""

    def __init__(self, futures: set[Future[Any]]) -> None:
        super().__init__(max_workers=LISTENER_THREADS, thread_name_prefix="bolt")
        self.futures = futures

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        # A listener run in place (over HTTP) comes back done, once it has ended: long after
        # its answer, while settle() may be reading the set; its dispatch's future covers it.
        if not future.done():
            self.futures.add(future)
        return future

    def dispatch(self, job: Callable[[], None], arrived: float | None = None) -> Future[Any]:
        future = super().dispatch(job, arrived)
        self.futures.add(future)
        return future


def _forget_graph_modules(config: str | None) -> None:
    """Graph files build their model when imported, from the environment of the moment: a
    fresh process imports them afresh, so this one must too, or a graph would keep talking to
    an earlier test's fake model."""
    if not config:
        return
    # The registry imports graphs from the resolved folder (bot.agents.registry), so their
    # files start with it; a string test, as resolving every module's path costs ~0.3 s.
    folder = os.path.join(Path(config).resolve().parent, "")
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and file.startswith(folder):
            del sys.modules[name]


class RunningClock(Clock):
    """Real time, moved on by :meth:`advance`: what happens one after another in a test keeps
    its order (votes, revision rounds), and a deadline passes without waiting for it."""

    def __init__(self) -> None:
        self.offset = 0.0

    @property  # type: ignore[override]
    def now(self) -> float:
        return time.time() + self.offset

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.offset += seconds


@pytest.fixture
def clock() -> Clock:
    return RunningClock()


@pytest.fixture
def bot_in_process(
    bot_env: dict[str, str],
    tmp_path: Path,
    fake_slack: Any,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Callable[..., InProcessBot]]:
    """``bot_in_process(**env)``: like ``start_bot``, with the bot in this process. The
    environment is the process's too while the test runs, as graphs (tests/byo) read their
    model's settings from it."""
    started: list[InProcessBot] = []

    def start(**overrides: str) -> InProcessBot:
        env = {**bot_env, **overrides}
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        bot = InProcessBot(env, tmp_path / f"bot{len(started)}.log", fake_slack, clock)
        started.append(bot)
        return bot.start()

    yield start
    for bot in started:
        bot.stop()
