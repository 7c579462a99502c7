"""Per-key locks (bot.store.db.locks): re-entrant per thread around a backend's acquire, every
wait bounded (LockBusy after it, at once for a try), given back when the block ends however it
ends; in memory for SQLite and as PostgreSQL advisory locks, which hold across pools as they
would across processes."""

from __future__ import annotations

import threading
import time

import pytest

from bot.store.db.locks import LockBusy, Locks, memory_acquire
from bot.store.db.postgres import PostgresDatabase
from tests.support.held import held_in_thread


class Counting:
    """An acquire that counts how often the backend was asked, around ``memory_acquire``."""

    def __init__(self) -> None:
        self.inner = memory_acquire()
        self.taken: list[str] = []
        self.given: list[str] = []

    def __call__(self, key: str, wait: float):
        release = self.inner(key, wait)
        self.taken.append(key)

        def give() -> None:
            self.given.append(key)
            release()

        return give


def test_lock_busy_is_a_timeout_naming_the_key_and_the_wait():
    busy = LockBusy("run-a", 0.5)
    assert isinstance(busy, TimeoutError)
    assert (busy.key, busy.wait) == ("run-a", 0.5)
    assert str(busy) == "run-a is busy (waited 0.5 s)"


def test_two_threads_one_key_the_second_is_busy_after_its_wait():
    locks = Locks(memory_acquire())
    done, thread = held_in_thread(lambda: locks.hold("run-a"))
    try:
        started = time.monotonic()
        with pytest.raises(LockBusy) as raised, locks.hold("run-a", wait=0.2):
            pytest.fail("held by the other thread")
        assert 0.15 <= time.monotonic() - started < 5
        assert (raised.value.key, raised.value.wait) == ("run-a", 0.2)
        assert not locks.held("run-a")  # in this thread
        with locks.hold("run-b", wait=0.2):  # other keys are free meanwhile
            assert locks.held("run-b")
    finally:
        done.set()
        thread.join(10)


def test_a_try_fails_at_once_and_a_negative_wait_is_a_try():
    locks = Locks(memory_acquire())
    done, thread = held_in_thread(lambda: locks.hold("run-a"))
    try:
        for wait in (0, -5):
            started = time.monotonic()
            with pytest.raises(LockBusy), locks.hold("run-a", wait=wait):
                pass
            assert time.monotonic() - started < 0.5
    finally:
        done.set()
        thread.join(10)


def test_a_waiter_gets_the_key_once_the_holder_gives_it_back():
    locks = Locks(memory_acquire())
    done, thread = held_in_thread(lambda: locks.hold("run-a"))
    got = threading.Event()

    def wait_for_it() -> None:
        with locks.hold("run-a", wait=10):
            got.set()

    waiter = threading.Thread(target=wait_for_it, daemon=True)
    waiter.start()
    assert not got.is_set()
    done.set()
    assert got.wait(10)
    waiter.join(10)
    thread.join(10)


def test_the_holder_takes_its_key_again_without_asking_the_backend():
    acquire = Counting()
    locks = Locks(acquire)
    with locks.hold("run-a"):
        with locks.hold("run-a", wait=0):
            assert locks.held("run-a")
        assert acquire.given == []  # the inner block did not give it back
        assert locks.held("run-a")
    assert acquire.taken == ["run-a"] and acquire.given == ["run-a"]
    assert not locks.held("run-a")


def test_the_key_is_given_back_when_the_block_raises():
    acquire = Counting()
    locks = Locks(acquire)
    with pytest.raises(RuntimeError), locks.hold("run-a"):
        raise RuntimeError("step failed")
    assert acquire.given == ["run-a"]
    done, thread = held_in_thread(lambda: locks.hold("run-a"))  # free for another thread
    done.set()
    thread.join(10)


def test_a_failed_acquire_leaves_nothing_held():
    def refuse(key: str, wait: float):
        raise LockBusy(key, wait)

    locks = Locks(refuse)
    with pytest.raises(LockBusy), locks.hold("run-a", wait=1):
        pass
    assert not locks.held("run-a")


@pytest.fixture
def two_pools(shared_postgres):
    """Two databases objects on one server: as two bot processes see it."""
    first, second = PostgresDatabase(shared_postgres), PostgresDatabase(shared_postgres)
    yield first, second
    first.close()
    second.close()


def test_postgres_advisory_locks_hold_across_pools(two_pools):
    first, second = two_pools
    with first.key_lock("run-a"):
        started = time.monotonic()
        with pytest.raises(LockBusy), second.key_lock("run-a", wait=0.2):
            pytest.fail("held through the other pool")
        assert time.monotonic() - started < 5
        with pytest.raises(LockBusy), second.try_lock("run-a"):
            pass
        with second.try_lock("run-b"):
            pass
    with second.try_lock("run-a"):  # given back to the server
        pass


def test_postgres_lock_connection_goes_back_to_the_pool(two_pools):
    first, _ = two_pools
    for _ in range(first.pool.max_size + 2):  # more locks than connections, one at a time
        with first.key_lock("run-a", wait=1):
            pass
    assert first.fetch_one("SELECT 1 AS one") == {"one": 1}
