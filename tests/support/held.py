"""A lock held by another thread, for tests of what waits on it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any


def held_in_thread(
    lock: Callable[[], AbstractContextManager[Any]],
) -> tuple[threading.Event, threading.Thread]:
    """``lock()`` entered by another thread and held until the returned event is set; returns
    once it is held."""
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with lock():
            taken.set()
            release.wait(30)

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert taken.wait(10), "the other thread never took the lock"
    return release, thread
