"""A call that must end by a limit, run so that a test fails at the limit instead of waiting for
as long as the call hangs (a peer trickling its answer, a lookup that never returns)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def ended_within(limit: float, call: Callable[[], object]) -> tuple[float, BaseException | None]:
    """Run ``call`` in a thread: the seconds it took and what it raised (None: nothing). Fails
    when it is still running after ``limit`` seconds; the thread is then left to end with
    whatever holds it (a daemon: it never keeps the test run alive)."""
    done = threading.Event()
    raised: list[BaseException | None] = [None]

    def run() -> None:
        try:
            call()
        except BaseException as exc:
            raised[0] = exc
        finally:
            done.set()

    began = time.monotonic()
    threading.Thread(target=run, name="bounded-call", daemon=True).start()
    assert done.wait(limit), f"the call was still running {limit:g} s after it began"
    return time.monotonic() - began, raised[0]
