"""The interface both database backends implement."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from typing import Any, Protocol

Params = Mapping[str, Any] | None
Row = dict[str, Any]

# Seconds within which a write before an ack (``execute_quick`` and its kin) has committed or
# failed, counted from when its caller stamped it (a click's ``received_at``): each backend's
# own bound (postgres.QUICK_BUDGET, sqlite.QUICK_WRITE) is checked to stay under it, with room
# for the round trip and the commit. A click received before a request's deadline may still be
# being written this long after it, unseen by other sessions, so the expiry is not run before
# ``due_at + ACK_WINDOW`` (bot.store.jobs): it then sees every click that can beat it.
ACK_WINDOW = 3.0


# Seconds from a Slack request's arrival within which its writes before the ack have an outcome
# (withdrawn, if need be, when a connection was lost): Slack gives 3 s in all, and the answer
# still has to travel back.
ANSWER_WITHIN = 2.5
# Seconds a write before an ack is given at least, though its request's time is all but gone:
# it is tried once, briefly, rather than refused unseen (its caller answers from its outcome).
QUICK_FLOOR = 0.25
_answer_by: ContextVar[float] = ContextVar("answer_by", default=math.inf)


@contextmanager
def answering(within: float = ANSWER_WITHIN, since: float | None = None) -> Iterator[None]:
    """Around a listener's work before its ack: every write before the ack shares one deadline,
    ``within`` seconds from now (or from ``since``, monotonic: when its request arrived),
    however much of it the reads before them took."""
    began = time.monotonic() if since is None else since
    token = _answer_by.set(began + within)
    try:
        yield
    finally:
        _answer_by.reset(token)


def answer_by(began: float) -> float:
    """When a write before an ack that began at ``began`` (monotonic) must have its outcome:
    ``ANSWER_WITHIN`` after it began, or sooner, when the request it answers came earlier."""
    return min(began + ANSWER_WITHIN, _answer_by.get())


def quick_budget(began: float, most: float) -> float:
    """Seconds a write before an ack that began at ``began`` may take: ``most`` (its backend's
    own bound), or what is left of its request's time, but ``QUICK_FLOOR`` at least."""
    return max(QUICK_FLOOR, min(most, answer_by(began) - began))


# Seconds within which each statement of an HTTP API call (bot.http.api) has its answer, beyond
# the wait for a lock it asks the server for. The API has no ack to beat, but a server that froze
# (its process stopped, packets swallowed) answers nothing, not even an error, and would hold the
# call, and one of the API's threads, for ever: the same time a Slack request's writes get.
STATEMENT_WITHIN = ANSWER_WITHIN


class Patience:
    """How long one API call waits for the database: each statement has its answer ``within``
    seconds of being sent (its lock wait aside), else its connection is cut
    (:mod:`bot.store.db.cutoff`) and it raises :class:`NoAnswer`. After that the call sends
    nothing more (the server is not answering): it ends in about ``within`` seconds, not in one
    ``within`` for each statement it has left."""

    def __init__(self, within: float) -> None:
        self.within = within
        self.gave_up = False

    def ask(self) -> None:
        """Before a statement: :class:`NoAnswer` at once if one of the call's went unanswered."""
        if self.gave_up:
            raise NoAnswer("the database did not answer an earlier statement of this call")


_patience: ContextVar[Patience | None] = ContextVar("patience", default=None)


@contextmanager
def patient(within: float = STATEMENT_WITHIN) -> Iterator[Patience]:
    """Around an API call's work on this thread: its statements wait as :class:`Patience` says
    (PostgreSQL only: SQLite has no server to freeze)."""
    bound = Patience(within)
    token = _patience.set(bound)
    try:
        yield bound
    finally:
        _patience.reset(token)


def patience() -> Patience | None:
    """This thread's API call's patience, if it is one's."""
    return _patience.get()


class OutcomeUnknown(Exception):
    """A write whose outcome is not known: its statement reached the database, and the
    connection was lost before the answer came back (a failover, a restart of the server, a
    network cut), and it could not be withdrawn in time. It may have been applied, and may be
    carried out later: its caller must not say it was not."""


class WriteWithdrawn(Exception):
    """A write whose connection was lost before its answer, withdrawn since: whether or not it
    had landed, it is not applied, now or later (its caller may say "not recorded")."""


class NoAnswer(Exception):
    """The database did not answer an API call in time (see :class:`Patience`): no connection
    came, or a statement's was cut. What was sent may still be applied when the server wakes,
    so a caller that had sent a write must say it may have been recorded
    (:class:`OutcomeUnknown`); one that had not may say "nothing changed"."""


class Session(Protocol):
    """One connection, inside or outside a transaction."""

    def fetch_one(self, sql: str, params: Params = None) -> Row | None: ...

    def fetch_all(self, sql: str, params: Params = None) -> list[Row]: ...

    def execute(self, sql: str, params: Params = None) -> int: ...


class Database(Session, Protocol):
    """A pool of sessions, a per-key lock that spans processes where it can, and the saver."""

    dialect: str

    def transaction(self) -> AbstractContextManager[Session]: ...

    def execute_quick(self, sql: str, params: Params = None, undo: str | None = None) -> int:
        """One short statement that must not wait long (it comes before Slack's ack): raises
        rather than queue for seconds when the database is away or saturated, or another
        session holds a lock it needs; a statement that raised is not applied later (its
        caller may say "not recorded"), except with :class:`OutcomeUnknown`.

        ``undo``: for a write, the statement that withdraws it, run with the same parameters
        when the connection was lost after the write was sent, within what is left of the
        ack's time; it answers one row, ``withdrawn``. Withdrawn, the write raises
        :class:`WriteWithdrawn`; else (no ``undo``, taken up already, no answer in time)
        :class:`OutcomeUnknown`. SQLite's writes never end unknown (GroupCommit withdraws a
        write it did not take), so its backend never runs one."""
        ...

    def fetch_one_quick(
        self, sql: str, params: Params = None, undo: str | None = None
    ) -> Row | None:
        """Like :meth:`execute_quick`, for a read or an ``INSERT … RETURNING``."""
        ...

    def fetch_all_quick(self, sql: str, params: Params = None) -> list[Row]:
        """Like :meth:`execute_quick`, for a read of several rows."""
        ...

    def key_lock(self, key: str, wait: float = ...) -> AbstractContextManager[None]:
        """Serialise work on one key (a LangGraph thread) across threads and processes; waits
        at most ``wait`` seconds, then raises :class:`bot.store.db.locks.LockBusy`. Re-entrant in
        one thread."""
        ...

    def try_lock(self, key: str) -> AbstractContextManager[None]:
        """The key's lock if it is free now, else :class:`bot.store.db.locks.LockBusy` at once."""
        ...

    def checkpointer(self) -> Any: ...

    def close(self) -> None: ...


def iter_rows(cursor: Any) -> Iterator[Row]:
    columns = [c[0] for c in cursor.description or ()]
    for row in cursor.fetchall():
        yield dict(zip(columns, row, strict=True))
