"""The locks that keep timing tests alone under pytest-xdist (tests/support/alone.py): each
"worker" here is a thread with its own handles on the lock files, as each xdist process has."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.alone import ALONE, HEAVY, UNIT, UNITS_BESIDE, holding, open_locks

SOON = 0.3  # long enough for a thread that could take its locks to have taken them


class Worker:
    """A test of one kind running on a worker of its own, until ``end()``."""

    def __init__(self, lock_dir: Path, kind: str) -> None:
        self.kind = kind
        self.files = open_locks(lock_dir)
        self.started = threading.Event()
        self._end = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with holding(self.files, self.kind):
            self.started.set()
            self._end.wait(10)

    def end(self) -> None:
        self._end.set()
        self._thread.join(5)
        for handle in self.files.values():
            handle.close()


@pytest.fixture
def run(tmp_path: Path) -> Iterator:
    workers: list[Worker] = []

    def start(kind: str) -> Worker:
        worker = Worker(tmp_path, kind)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.end()


def test_a_units_beside_test_waiting_for_the_bot_tests_lets_unit_tests_start(run):
    heavy = run(HEAVY)
    assert heavy.started.wait(5)
    beside = run(UNITS_BESIDE)
    assert not beside.started.wait(SOON)  # a bot test is still running
    unit = run(UNIT)
    assert unit.started.wait(5), "a unit test waited behind a test that lets units run beside"
    heavy.end()
    assert beside.started.wait(5)


def test_a_bot_test_arriving_after_a_waiting_alone_test_queues_behind_it(run):
    first = run(HEAVY)
    assert first.started.wait(5)
    beside = run(UNITS_BESIDE)
    assert not beside.started.wait(SOON)
    later = run(HEAVY)
    assert not later.started.wait(SOON), "a later bot test overtook the test waiting alone"
    first.end()
    assert beside.started.wait(5)
    assert not later.started.wait(SOON)  # not beside it either
    beside.end()
    assert later.started.wait(5)


def test_an_alone_test_waits_for_every_test_and_none_starts_beside_it(run):
    heavy, unit = run(HEAVY), run(UNIT)
    assert heavy.started.wait(5) and unit.started.wait(5)
    alone = run(ALONE)
    heavy.end()
    assert not alone.started.wait(SOON)  # the unit test still runs
    later_unit = run(UNIT)
    assert not later_unit.started.wait(SOON), "a unit test overtook the test waiting alone"
    unit.end()
    assert alone.started.wait(5)
    later_heavy = run(HEAVY)
    assert not later_heavy.started.wait(SOON)
    assert not later_unit.started.is_set()
    alone.end()
    assert later_unit.started.wait(5) and later_heavy.started.wait(5)
