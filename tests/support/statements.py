"""Count the statements the bot sends PostgreSQL, at the psycopg level.

Every ``Cursor.execute`` is one statement (``Connection.execute`` goes through it); an
``executemany`` is one per parameter set; a ``Connection.transaction()`` adds its ``BEGIN`` and
its ``COMMIT`` (or ``ROLLBACK``), which psycopg sends on its own. Each is told apart by who
asked: LangGraph's checkpointer (a ``langgraph.checkpoint`` frame on the stack), a graph's own
node (a ``graphs.`` frame: its side effects' ledger, one ``started`` and one ``done`` per effect)
or the bot's decision path itself. The pool's liveness check of a connection idle for half a
second (an empty query: ``bot.store.db.postgres_pool``) is counted apart too: it depends on how
long the connection sat idle, not on what the click does; so are the settings of a connection
the pool opens meanwhile (``configure``).
Threads that run on a clock of their own (the /healthz and /metrics refreshers, the lease
heartbeat) are left out: they are not the work of the click being counted; so is the thread
that makes the last test's database new again for the next (``tests.support.databases``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import psycopg

from tests.support.databases import HOUSEKEEPING

BESIDE = ("refresh-", "lease-heartbeat", HOUSEKEEPING)
CHECKPOINTER = "langgraph.checkpoint"
GRAPHS = "graphs."


@dataclass
class Statements:
    recording: bool = False
    ours: list[str] = field(default_factory=list)
    checkpointer: list[str] = field(default_factory=list)
    graphs: list[str] = field(default_factory=list)
    sent: list[tuple[str, Any]] = field(default_factory=list)  # ours, with their parameters
    pool_checks: int = 0
    connection_setup: int = 0
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def note(self, sql: Any, times: int = 1, params: Any = None) -> None:
        if not self.recording or threading.current_thread().name.startswith(BESIDE):
            return
        text = sql if isinstance(sql, str) else repr(sql)
        if not text.strip():
            with self._guard:
                self.pool_checks += times
            return
        line = " ".join(text.split())[:110]
        into = self.ours
        frame: FrameType | None = sys._getframe(2)
        while frame is not None:
            module = frame.f_globals.get("__name__", "")
            if module.startswith(CHECKPOINTER):
                into = self.checkpointer
                break
            if module.startswith(GRAPHS):
                into = self.graphs
                break
            if module == "bot.store.db.postgres_pool" and frame.f_code.co_name == "configure":
                with self._guard:
                    self.connection_setup += times
                return
            frame = frame.f_back
        with self._guard:
            into.extend([line] * times)
            if into is self.ours:
                self.sent.append((text, params))

    def report(self) -> str:
        parts = [("ours", self.ours), ("graph", self.graphs), ("checkpointer", self.checkpointer)]
        listed = "\n".join(
            f"{name} ({len(lines)}):\n" + "".join(f"  {line}\n" for line in lines)
            for name, lines in parts
        )
        return (
            f"{listed}\npool liveness checks: {self.pool_checks}, "
            f"new connections' settings: {self.connection_setup}"
        )


@contextmanager
def counting() -> Iterator[Statements]:
    """Count every statement sent through psycopg while the block runs (``recording`` says
    when: set it around the work to count)."""
    counts = Statements()
    execute = psycopg.Cursor.execute
    executemany = psycopg.Cursor.executemany
    transaction = psycopg.Connection.transaction

    def counted_execute(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        counts.note(query, params=args[0] if args else kwargs.get("params"))
        return execute(self, query, *args, **kwargs)

    def counted_executemany(self: Any, query: Any, params_seq: Any, *args: Any, **kw: Any) -> Any:
        params = list(params_seq)
        counts.note(query, len(params))
        return executemany(self, query, params, *args, **kw)

    @contextmanager
    def counted_transaction(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        counts.note("BEGIN")
        try:
            with transaction(self, *args, **kwargs) as tx:
                yield tx
        except BaseException:
            counts.note("ROLLBACK")
            raise
        counts.note("COMMIT")

    psycopg.Cursor.execute = counted_execute  # type: ignore[method-assign,assignment]
    psycopg.Cursor.executemany = counted_executemany  # type: ignore[method-assign]
    psycopg.Connection.transaction = counted_transaction  # type: ignore[method-assign,assignment]
    try:
        yield counts
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]
        psycopg.Cursor.executemany = executemany  # type: ignore[method-assign]
        psycopg.Connection.transaction = transaction  # type: ignore[method-assign]
