"""The bot leaves its start-up objects out of the garbage collector's work (bot.__main__)."""

from __future__ import annotations

import gc
import time

from bot.__main__ import settle_heap


def test_after_start_up_a_full_collection_no_longer_walks_what_start_up_built():
    import bot.slack.app  # noqa: F401 - what a bot process has loaded by the time it serves
    import bot.wiring  # noqa: F401

    try:
        settle_heap()
        assert gc.get_freeze_count() > 50_000  # LangGraph, LangChain, Bolt: long-lived
        start = time.perf_counter()
        gc.collect()
        assert time.perf_counter() - start < 0.05
    finally:
        gc.unfreeze()
