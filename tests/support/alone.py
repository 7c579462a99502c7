"""Running the suite on several pytest-xdist workers without making timing assertions flaky.

A test marked ``@pytest.mark.alone`` asserts how fast the bot answers (an ack within Slack's 3 s,
a burst's latency): under xdist it waits until no other test runs, and no other test starts until
it is done. ``@pytest.mark.alone(units_beside=True)`` is for one whose bounds are loose enough to
bear unit tests on the other cores: it waits for every bot, database and process test, and lets
unit tests (no bot, no database fixture, not a scenario) run beside it. Every other test runs
beside other tests as usual. Without xdist nothing changes.

``flock`` files shared by the run's workers: every test with a bot or a database holds
``tests.lock`` shared, every unit test ``units.lock`` shared; an ``alone`` test holds
``tests.lock`` exclusive, and ``units.lock`` too unless units may run beside it. Each lock has a
turnstile in front of it (``tests-turnstile.lock``, ``units-turnstile.lock``) that a test passes
before taking the lock and that an ``alone`` test keeps while it waits for the lock, so tests
started after it queue behind it instead of starving it. Two turnstiles, not one: an
``alone(units_beside=True)`` test waiting for the last bot tests holds back only bot tests, and
unit tests go on meanwhile (with one turnstile, every worker but those running bot tests stood
idle behind it). Every test takes the tests' side before the units' side, so no two wait on each
other. The locks are taken outside pytest-timeout's timer (``tryfirst``), so the wait does not
count against the test's own limit.

Tests also run in an order that keeps the workers busy: the longest first (the biggest
``timeout`` marks, then tests that start a bot process or use a database), then the unit tests,
with the ``alone`` tests that allow them spread among them, so that the other workers have unit
tests to run while one runs such a test, and the ``alone`` tests last. Not first: xdist hands
every worker its first tests at once, and a long test (the crash chaos, 45 s) that took the
turnstile between two ``alone`` tests kept every worker but one waiting until it ended (the first
65 s of a run went by one test at a time). Last, they wait only for the short unit tests still
running, and run one at a time as they must.
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
ALONE, UNITS_BESIDE, HEAVY, UNIT = "alone", "alone, units beside", "heavy", "unit"
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
    for handle in getattr(config, "_approvals_lock_files", {}).values():
        handle.close()


_LOCKS = ("tests-turnstile", "tests", "units-turnstile", "units")


def _lock_files(config: pytest.Config) -> dict[str, IO[str]] | None:
    workerinput = getattr(config, "workerinput", None)
    if not workerinput or _DIR_KEY not in workerinput:
        return None  # not under xdist: tests run one at a time anyway
    files = getattr(config, "_approvals_lock_files", None)
    if files is None:
        files = config._approvals_lock_files = open_locks(Path(workerinput[_DIR_KEY]))
    return files


def open_locks(lock_dir: Path) -> dict[str, IO[str]]:
    """One worker's handles on the run's lock files (closed in ``pytest_unconfigure``)."""
    return {name: open(lock_dir / f"{name}.lock", "a") for name in _LOCKS}  # noqa: SIM115


# What each kind of test holds while it runs: on the tests' side, then on the units'.
_HOLDS = {
    ALONE: (fcntl.LOCK_EX, fcntl.LOCK_EX),
    UNITS_BESIDE: (fcntl.LOCK_EX, None),
    HEAVY: (fcntl.LOCK_SH, None),
    UNIT: (None, fcntl.LOCK_SH),
}


@contextlib.contextmanager
def _turn(item: pytest.Item) -> Iterator[None]:
    files = _lock_files(item.config)
    if files is None:
        yield
        return
    with holding(files, _kind(item)):
        yield


@contextlib.contextmanager
def holding(files: dict[str, IO[str]], kind: str) -> Iterator[None]:
    """While a test of this kind runs on the worker whose lock handles these are."""
    held: list[IO[str]] = []
    try:
        for side, mode in zip(("tests", "units"), _HOLDS[kind], strict=True):
            if mode is None:
                continue
            turnstile = files[f"{side}-turnstile"]
            fcntl.flock(turnstile, fcntl.LOCK_EX)
            try:
                fcntl.flock(files[side], mode)
                held.append(files[side])
            finally:
                fcntl.flock(turnstile, fcntl.LOCK_UN)
        yield
    finally:
        for lock in held:
            fcntl.flock(lock, fcntl.LOCK_UN)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    with _turn(item):
        return (yield)


def _kind(item: pytest.Item) -> str:
    alone = item.get_closest_marker(MARK)
    if alone is not None:
        return UNITS_BESIDE if alone.kwargs.get("units_beside") else ALONE
    if "scenarios" in item.path.parts:  # each starts processes (the bot, `langgraph dev`)
        return HEAVY
    return HEAVY if _HEAVY_FIXTURES & set(getattr(item, "fixturenames", ())) else UNIT


def _limit(item: pytest.Item) -> float:
    timeout = item.get_closest_marker("timeout")
    return float(timeout.args[0]) if timeout and timeout.args else 0.0


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    groups: dict[str, list[pytest.Item]] = {ALONE: [], UNITS_BESIDE: [], HEAVY: [], UNIT: []}
    for item in items:  # each group in collection order
        groups[_kind(item)].append(item)
    groups[HEAVY].sort(key=lambda item: -_limit(item))  # stable
    # The longest first, so that the last ones, with the fewest unit tests after them to run
    # beside them, are short.
    groups[UNITS_BESIDE].sort(key=lambda item: -_limit(item))
    units, beside = groups[UNIT], groups[UNITS_BESIDE]
    share = -(-len(units) // (len(beside) + 1))  # the units, cut into len(beside) + 1 parts
    mixed = units[:share]
    for n, test in enumerate(beside, 1):
        mixed += [test, *units[n * share : (n + 1) * share]]
    items[:] = groups[HEAVY] + mixed + groups[ALONE]
