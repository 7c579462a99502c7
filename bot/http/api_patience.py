"""The HTTP approval API on a database that froze or is busy: each call patient for a few
seconds, then a 503 that says whether it may simply come again.

A call runs on one of the API's own threads (:data:`API_THREADS`), each of its statements given
its answer within :class:`~bot.store.db.base.Patience`'s time (:func:`patiently`); one the
database left unanswered is a :class:`Silence`, which the calls queued behind it hear at once
instead of waiting their own round. What went wrong is answered by :func:`unavailable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse

from bot.store.db import LockBusy, NoAnswer, OutcomeUnknown, WriteWithdrawn, patient

# The threads the API's calls run on, apart from Starlette's pool that Slack's requests are
# answered on: a call may hold one for a while (waiting for its turn, its run, then the graph's
# step), and calls in their dozens must not leave Slack's clicks unacked past its 3 seconds.
API_THREADS = 8
RETRY_BUSY = 2  # the Retry-After of a 503 that may simply come again
WITHDRAWN = "The database connection broke mid-way; nothing was recorded. Try again shortly."
UNKNOWN = (
    "The database stopped answering mid-way and I can't tell whether that was recorded; if it "
    "was, it goes ahead (once). Look at the run (GET /api/runs/…) or the channel before sending "
    "it again."
)
NO_ANSWER = "The database did not answer in time; nothing changed. Try again shortly."
BUSY = "The run is busy carrying out a step; nothing changed. Try again shortly."
UNAVAILABLE = (NoAnswer, WriteWithdrawn, OutcomeUnknown, LockBusy)


@dataclass
class Silence:
    """When the database last left a statement of one of the API's calls unanswered."""

    at: float = float("-inf")  # monotonic


def patiently(silence: Silence, queued: float, work: Callable[..., Any], *args: Any) -> Any:
    """``work`` on one of the API's threads, each of its statements given its answer within
    ``STATEMENT_WITHIN`` (bot.store.db.base.Patience): a database that froze ends the call in
    a few seconds with :class:`NoAnswer`, and frees its thread, instead of holding both. A call
    that waited for its thread (since ``queued``) while the database left another unanswered
    sends nothing: its first statement raises :class:`NoAnswer` at once, as if it had gone
    unanswered (so a step after the call's write still says it may have been recorded); else
    the calls behind a frozen server's would wait a full round of unanswered statements for
    each round ahead of them. Only a statement that really went unanswered is a silence."""
    waited_through = silence.at > queued
    with patient() as bound:
        bound.gave_up = waited_through
        try:
            return work(*args)
        finally:
            if bound.gave_up and not waited_through:
                silence.at = max(silence.at, time.monotonic())  # threads end out of order


@contextmanager
def may_be_recorded() -> Iterator[None]:
    """Around a decision, its lock taken: a statement the database did not answer may have
    been its claim, or come after it, so the caller hears that it may have been recorded (as a
    click whose write lost its answer does), never "nothing changed"."""
    try:
        yield
    except NoAnswer as lost:
        raise OutcomeUnknown(str(lost)) from lost


def unavailable(problem: NoAnswer | WriteWithdrawn | OutcomeUnknown | LockBusy) -> JSONResponse:
    """The 503 for one of :data:`UNAVAILABLE`: whether the call may simply come again."""
    if isinstance(problem, NoAnswer):
        # The database froze (or is saturated) before anything was sent that writes: the call
        # did nothing, and may simply come again.
        return come_again(NO_ANSWER)
    if isinstance(problem, WriteWithdrawn):
        # The database connection broke after the write was sent; it was withdrawn.
        return come_again(WITHDRAWN)
    if isinstance(problem, OutcomeUnknown):
        # It may have been recorded (and then goes ahead, once): sending it again could do it
        # twice, so the answer says to look first.
        return JSONResponse({"error": UNKNOWN, "retry": False}, status_code=503)
    # LockBusy: the run is carrying out a step (or another call holds it) past the lock's wait:
    # nothing was decided or changed, and the same call may simply come again.
    return come_again(BUSY)


def come_again(message: str) -> JSONResponse:
    """A 503 saying that nothing happened: the same call may simply come again shortly."""
    return JSONResponse(
        {"error": message, "retry": True},
        status_code=503,
        headers={"Retry-After": str(RETRY_BUSY)},
    )
