"""How long a retried effect waits: exponential, capped, with jitter.

Doubling spaces the tries out while the other side recovers; the jitter ("equal jitter": half
the wait fixed, half random) keeps effects that failed together from retrying together.
"""

from __future__ import annotations

import random
from collections.abc import Callable

BASE = 30.0  # seconds before the second try, at most (the bot uses RETRY_AFTER)
CAP = 900.0  # no wait longer than this


def backoff(
    attempt: int,
    rand: Callable[[], float] = random.random,
    base: float = BASE,
    cap: float = CAP,
) -> float:
    """The wait after failed try number ``attempt`` (1 = the first): in [ceiling/2, ceiling],
    where the ceiling doubles with each try up to ``cap``."""
    ceiling = min(cap, base * 2.0 ** max(0, attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2
