"""PostgreSQL statements that must be answered in time, and what happens when they are not.

Two kinds: a statement before an ack (:func:`quick`), under limits of its own set in its round
trip, cut off on our side when a frozen server keeps none of them, and withdrawn (its ``undo``)
when its connection was lost after it was sent; and a statement of an HTTP API call
(:class:`~bot.store.db.base.Patience`), watched (:func:`answered`) and cut when it goes
unanswered, the call then giving up with :class:`NoAnswer`. Both are cut by
:data:`~bot.store.db.cutoff.CUTOFF`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any, TypeVar

import psycopg
from psycopg_pool import PoolTimeout

from bot.store.db.base import (
    ACK_WINDOW,
    ANSWER_WITHIN,
    QUICK_FLOOR,
    NoAnswer,
    OutcomeUnknown,
    Params,
    Patience,
    Row,
    WriteWithdrawn,
    answer_by,
    patience,
    quick_budget,
)
from bot.store.db.cutoff import CUTOFF
from bot.store.db.postgres_pool import Pool, checks_cut_off

QUICK_TIMEOUT = 1.5  # seconds to wait for a connection before an ack: far inside Slack's 3 s
# A statement before an ack has its own limits, not the session's (30 s for a lock, 60 s in
# all): another session's lock on the table it writes (a CREATE INDEX that is not CONCURRENTLY,
# a migration of a rolling deploy, a LOCK TABLE) would otherwise hold the click past Slack's 3 s,
# Slack would tell the person it failed, and the click would be carried out once the lock went.
# Bounded, it fails (and is rolled back: nothing of it is applied later), and the person hears
# "not recorded, nothing changed". The wait for a connection and the statement share QUICK_BUDGET:
# the statement gets what the wait left of it, QUICK_STATEMENT at most, QUICK_FLOOR at least.
QUICK_STATEMENT = 1.0
QUICK_BUDGET = 2.0
# The expiry waits out the writes before an ack (bot.store.db.base): they must end before it.
assert QUICK_BUDGET + 0.5 <= ACK_WINDOW, "an expiry could miss a click still being recorded"
# A write whose connection was lost after it was sent may have committed (or may yet): before
# its caller answers, it is withdrawn on another connection (its ``undo``), within what is left
# of QUICK_ANSWER from the write's start, which leaves Slack's 3 s room for the HTTP round trip.
QUICK_ANSWER = ANSWER_WITHIN  # counted from the request's arrival, when its listener set it
# A server that froze keeps none of its limits: a statement before an ack still going this long
# after its server-side limit (time for that limit's error to come back) is cut off on our side
# (bot.store.db.cutoff), by the ack's deadline at the latest.
QUICK_GRACE = 0.25

logger = logging.getLogger(__name__)
T = TypeVar("T")


def quick(pool: Pool, sql: str, params: Params, undo: str | None, result: Callable[[Any], T]) -> T:
    """One statement before an ack (:func:`_limited`); one whose connection was lost after it
    was sent is withdrawn by ``undo`` before this raises (see Database.execute_quick)."""
    began = time.monotonic()
    deadline = answer_by(began)  # the request's, when reads before took some of it
    budget = quick_budget(began, QUICK_BUDGET)
    bound = patience()  # an API call's (POST /api/runs records its run so)
    if bound is not None:
        bound.ask()  # sends nothing once the call gave up (or waited through a silence)
    try:
        with no_connection_is_no_answer(bound):
            return _limited(pool, sql, params, budget, result, deadline)
    except OutcomeUnknown as lost:
        if undo is None:
            raise
        raise _withdraw(pool, undo, params, deadline) from lost


def _withdraw(pool: Pool, undo: str, params: Params, deadline: float) -> Exception:
    """What to raise for a write whose answer was lost, once ``undo`` withdrew it (tried
    again, on another connection, while ``deadline`` allows), or could not."""
    while (left := deadline - time.monotonic()) >= QUICK_FLOOR:
        try:
            row = _limited(pool, undo, params, left, one, deadline)
        except (psycopg.OperationalError, OutcomeUnknown):
            # Connection gone or limit reached: its undo is safe to run again.
            logger.warning("could not withdraw a write whose answer was lost", exc_info=True)
            continue
        except Exception:  # whatever else failed, the write's outcome is still unknown
            logger.exception("the withdrawal of a write whose answer was lost failed")
            break
        if row and row["withdrawn"]:
            return WriteWithdrawn("the connection was lost after a write; it was withdrawn")
        return OutcomeUnknown("a write whose answer was lost was taken up meanwhile")
    return OutcomeUnknown("a write whose answer was lost could not be withdrawn in time")


def _limited(
    pool: Pool, sql: str, params: Params, budget: float, result: Callable[[Any], T], by: float
) -> T:
    """One statement under limits of its own, within ``budget`` seconds in all, set in the
    same round trip: ``SET LOCAL`` for its lock wait and its run time, then the statement,
    sent as one simple query (client-side binding: psycopg quotes the parameters), which
    PostgreSQL runs as one implicit transaction, so the limits end with it and an error
    rolls all of it back (PostgreSQL lifts statement_timeout before that commit, so a
    timeout is never the commit's). A connection lost once the statement was sent raises
    :class:`OutcomeUnknown`: it may have committed; so does one still unanswered
    ``QUICK_GRACE`` after its limit, or at ``by``, cut off then on our side (a server that
    froze keeps no limit). ``result`` reads the cursor, left on the statement's own result."""
    asked = time.monotonic()
    wait = min(QUICK_TIMEOUT, budget - QUICK_FLOOR)
    with checks_cut_off(asked + wait), pool.connection(timeout=wait) as conn:
        sent = time.monotonic()
        # The server's own limit ends in time for its error to come back before the cut
        # at ``by``: a write it refused is "not done", one cut off is of unknown outcome.
        left = min(budget - (sent - asked), by - sent - QUICK_GRACE)
        seconds = min(QUICK_STATEMENT, max(QUICK_FLOOR, left))
        limit = ms(seconds)
        cut_at = min(sent + seconds + QUICK_GRACE, max(by, sent + QUICK_FLOOR))
        with psycopg.ClientCursor(conn) as cursor, CUTOFF.within(conn, cut_at) as watch:
            try:
                cursor.execute(
                    f"SET LOCAL lock_timeout = '{limit}'; "
                    f"SET LOCAL statement_timeout = '{limit}'; {sql.strip()}",
                    params or {},
                )
            except psycopg.Error as exc:
                if watch.cut:
                    _unanswered()
                    raise OutcomeUnknown("no answer in time: the connection was cut") from exc
                if conn.broken:
                    raise OutcomeUnknown("the connection was lost after a statement") from exc
                raise
            cursor.nextset()
            cursor.nextset()
            return result(cursor)


@contextmanager
def answered(
    conn: Any, bound: Patience, waits: float = 0.0, session: bool = False
) -> Iterator[None]:
    """Work on ``conn`` in an API call: still going ``bound.within`` seconds from now (plus
    ``waits``, a lock wait it asks the server for), its connection is cut, and it raises
    :class:`NoAnswer`; the call then gives up. ``session``: what it got lives with the session
    (an advisory lock): cut just after its answer came, it is gone with the session, so that
    raises too."""
    bound.ask()
    with CUTOFF.within(conn, time.monotonic() + waits + bound.within) as watch:
        try:
            yield
        except psycopg.Error as exc:
            if not watch.cut:
                raise
            bound.gave_up = True
            raise NoAnswer("no answer from the database in time: the connection was cut") from exc
    if session and watch.cut:
        bound.gave_up = True
        raise NoAnswer("the connection was cut as its lock was granted: the lock went with it")


def watched(
    conn: Any, bound: Patience | None, waits: float = 0.0, session: bool = False
) -> AbstractContextManager[None]:
    """:func:`answered` in an API call; outside one, nothing."""
    return nullcontext() if bound is None else answered(conn, bound, waits, session)


@contextmanager
def no_connection_is_no_answer(bound: Patience | None) -> Iterator[None]:
    """In an API call, the pool's wait for a connection running out is :class:`NoAnswer` (a
    server that froze takes no new connection, and the ones it had are cut), and the call gives
    up; nothing was sent on it."""
    try:
        yield
    except PoolTimeout as exc:
        if bound is None:
            raise
        bound.gave_up = True
        raise NoAnswer("no connection to the database in time") from exc


def _unanswered() -> None:
    """A quick statement of an API call (POST /api/runs records its run so) was cut unanswered:
    the call gives up, as for a statement of a session (:func:`answered`), so that the calls
    that waited for a thread meanwhile send nothing. One that failed fast (a connection lost, a
    limit the server kept) is not a silence, and does not end the call's patience."""
    bound = patience()
    if bound is not None:
        bound.gave_up = True


def one(cursor: Any) -> Row | None:
    return cursor.fetchone() if cursor.description else None


def ms(seconds: float) -> str:
    return f"{max(1, round(seconds * 1000))}ms"
