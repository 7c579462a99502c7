"""Work put off (bot.runtime.delays): run when due, in the order due, on one thread, whatever
one of them raises."""

from __future__ import annotations

import threading
import time

from bot.runtime.delays import Delays


def test_what_is_put_off_runs_when_due_in_due_order_on_one_thread():
    delays = Delays()
    ran: list[tuple[str, float, str]] = []
    done = threading.Event()
    started = time.monotonic()

    def note(name: str):
        def run() -> None:
            ran.append((name, time.monotonic() - started, threading.current_thread().name))
            if len(ran) == 3:
                done.set()

        return run

    delays(0.3, note("late"))
    delays(0.1, note("early"))
    delays(0.2, note("middle"))
    assert done.wait(5)

    assert [name for name, _, _ in ran] == ["early", "middle", "late"]
    assert all(at >= due for (_, at, _), due in zip(ran, (0.1, 0.2, 0.3), strict=True))
    assert {thread for _, _, thread in ran} == {"delays"}
    assert delays.waiting() == 0


def test_one_that_raises_does_not_stop_the_ones_after_it(caplog):
    delays = Delays()
    done = threading.Event()

    def fails() -> None:
        raise RuntimeError("broken")

    delays(0.0, fails)
    delays(0.05, done.set)
    assert done.wait(5)
    assert "work put off could not be started" in caplog.text
