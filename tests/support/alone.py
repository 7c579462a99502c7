"""Running the suite on several pytest-xdist workers without making timing assertions flaky.

A test marked ``@pytest.mark.alone`` asserts how fast the bot answers (an ack within Slack's 3 s,
a burst's latency): under xdist it waits until no other test runs, and no other test starts until
it is done. Every other test runs beside other tests as usual. Without xdist nothing changes.

Two ``flock`` files shared by the run's workers: every test holds ``tests.lock`` shared, an
``alone`` test holds it exclusive. To take it, a test first passes ``turnstile.lock``; an
``alone`` test keeps the turnstile while it waits, so tests started after it queue behind it
instead of starving it. The lock is taken outside pytest-timeout's timer (``tryfirst``), so the
wait does not count against the test's own time limit.

Tests also run in an order that keeps both workers busy to the end: ``alone`` tests first (they
run one at a time anyway), then the longest (the biggest ``timeout`` marks, then tests that start
a bot process), then the quick unit tests, each group in collection order.
"""

from __future__ import annotations

import contextlib
import fcntl
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

MARK = "alone"
_DIR_KEY = "approvals_lock_dir"
_HEAVY_FIXTURES = {"start_bot", "bot_in_process", "postgres_server", "database_url", "postgres_url"}


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller: one lock directory per run, handed to every worker."""
    config = node.config
    if not hasattr(config, "_approvals_lock_dir"):
        config._approvals_lock_dir = tempfile.mkdtemp(prefix="approvals-test-locks-")
    node.workerinput[_DIR_KEY] = config._approvals_lock_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    lock_dir = getattr(config, "_approvals_lock_dir", None)
    if lock_dir:
        shutil.rmtree(lock_dir, ignore_errors=True)
    for handle in getattr(config, "_approvals_lock_files", ()):
        handle.close()


def _lock_files(config: pytest.Config) -> tuple[IO[str], IO[str]] | None:
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or _DIR_KEY not in workerinput:
        return None  # not under xdist: tests run one at a time anyway
    files = getattr(config, "_approvals_lock_files", None)
    if files is None:
        lock_dir = Path(workerinput[_DIR_KEY])
        files = (
            open(lock_dir / "turnstile.lock", "a"),  # noqa: SIM115 - closed in unconfigure
            open(lock_dir / "tests.lock", "a"),  # noqa: SIM115
        )
        config._approvals_lock_files = files
    return files


@contextlib.contextmanager
def _turn(item: pytest.Item) -> Iterator[None]:
    files = _lock_files(item.config)
    if files is None:
        yield
        return
    turnstile, tests = files
    alone = item.get_closest_marker(MARK) is not None
    fcntl.flock(turnstile, fcntl.LOCK_EX)
    try:
        fcntl.flock(tests, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
    finally:
        fcntl.flock(turnstile, fcntl.LOCK_UN)
    try:
        yield
    finally:
        fcntl.flock(tests, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    with _turn(item):
        return (yield)


def _order(item: pytest.Item) -> tuple[int, float, int]:
    timeout = item.get_closest_marker("timeout")
    limit = float(timeout.args[0]) if timeout and timeout.args else 0.0
    heavy = bool(_HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())))
    return (0 if item.get_closest_marker(MARK) else 1, -limit, 0 if heavy else 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_order)  # stable: collection order within each group
