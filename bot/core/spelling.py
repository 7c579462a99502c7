"""Which known name a mistyped word meant (commands, graphs): within two edits, or none."""

from __future__ import annotations

from collections.abc import Iterable

MAX_EDITS = 2


def suggestion(word: str, choices: Iterable[str]) -> str | None:
    """The choice closest to ``word`` (any case) within two edits (one for a name of four
    letters or fewer, which two edits turn into too many English words), if any; ties go to
    the first. A word of two letters or fewer matches nothing."""
    if len(word) <= MAX_EDITS:
        return None
    scored = [(edit_distance(word.lower(), c.lower()), i, c) for i, c in enumerate(choices)]
    close = min((s for s in scored if s[0] <= allowed(s[2])), default=None)
    return close[2] if close else None


def allowed(name: str) -> int:
    return 1 if len(name) <= 4 else MAX_EDITS


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, counting a swap of two neighbours as one edit (``tyr``/``try``)."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            cost = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (x != y))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                cost = min(cost, previous2[j - 2] + 1)
            row.append(cost)
        previous2, previous = previous, row
    return previous[-1]
