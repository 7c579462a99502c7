"""Fixtures and fakes for unit tests of one module at a time, on both real databases.

``db`` is a migrated :class:`~bot.store.db.Database`, once on a SQLite file and once on the
real PostgreSQL server. A new PostgreSQL database per test costs a round of CREATE and DROP
DATABASE, so the PostgreSQL one is made once per session (per xdist worker) and emptied before
each test: a test sees empty tables either way. ``tests/conftest.py`` loads this module as a
plugin, so every test may ask for them.

The clock is each package's ``conftest.py``'s (``tests/core``, ``tests/store``, ``tests/slack``):
a :class:`~tests.support.inprocess.Clock` that stands still until the test moves it. (The
plugin's own ``clock`` would take the place of :mod:`tests.support.inprocess_bot`'s running
clock everywhere.)

:func:`engine_parts` builds the real :class:`~bot.core.engine.Engine` as :mod:`bot.wiring`
does (real ``Store``, ``SignOffTally``, ``Ledger``, ``Journal``) with simple fakes for the ports of
:mod:`bot.core.ports`: a :class:`FakeGraph` (runner and agents in one: what the "graph" waits
on) and a :class:`RecordingPublisher` (cards, thread notes and the clicker's answers, kept as
calls).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.agents import adapters
from bot.core.deciders import Directory
from bot.core.effect_trail import EffectTrail
from bot.core.engine import Engine
from bot.core.journal import Journal
from bot.core.ledger import Ledger
from bot.core.outcomes import Outcome
from bot.core.ports import PostOutcome, RunState, StageCall
from bot.core.run_control import RunControl
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, Decision, Run, RunRequest
from bot.domain.review import Pending, Proposal, Review, Stop
from bot.domain.signoff import Section, SignOffs, Stage
from bot.domain.timeline import Policies, Policy
from bot.runtime.metrics import Metrics
from bot.runtime.worker import InlineWorker, Worker
from bot.store.audit_log import Audit
from bot.store.db import Database, open_database
from bot.store.repository import Store
from tests.support.databases import fresh_postgres
from tests.support.inprocess import Clock


# databases ----------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def shared_postgres() -> Iterator[str]:
    """One migrated PostgreSQL database for the session's unit tests."""
    with fresh_postgres() as url:
        open_database(url).close()  # migrated once
        yield url


def empty_postgres(url: str) -> None:
    """Every table of the bot (and LangGraph's, if any) emptied; the schema and the record of
    applied migrations stay."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
            "AND tablename NOT LIKE '%%migrations'"  # ours and LangGraph's stay applied
        ).fetchall()
        names = [f'"{name}"' for (name,) in rows]
        try:  # one transaction of DELETEs is quicker than TRUNCATE on small tables
            with conn.transaction():
                conn.execute("SET LOCAL session_replication_role = replica")  # any FK order
                for name in names:
                    conn.execute(f"DELETE FROM {name}")
        except psycopg.errors.InsufficientPrivilege:  # not a superuser: the slower way
            conn.execute(f"TRUNCATE {', '.join(names)} CASCADE")


@pytest.fixture
def sqlite_dir() -> Iterator[Path]:
    """A directory for a SQLite file, in memory (tmpfs) where there is one: the tests' many
    short transactions then cost no disk flush."""
    shm = Path("/dev/shm")
    with tempfile.TemporaryDirectory(dir=shm if shm.is_dir() else None) as name:
        yield Path(name)


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{request.getfixturevalue('sqlite_dir') / 'bot.db'}"
    url: str = request.getfixturevalue("shared_postgres")
    empty_postgres(url)
    return url


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    opened = open_database(db_url)
    yield opened
    opened.close()


def wait_until(condition: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Poll ``condition`` until it is truthy (its value is returned); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or condition}")
        time.sleep(0.005)


class AnswerLost(ConnectionError):
    """The connection dropped at a statement's commit: the caller never hears how it went."""


def losing(db: Database, clock: Clock, method: str, committed: bool = True) -> Store:
    """The real store, whose ``method`` loses its answer: after its commit (``committed``), or
    before the statement ever reached the database. Either way the caller gets
    :class:`AnswerLost`; only the database knows which."""
    store = Store(db, clock)
    real = getattr(store, method)

    def lost(*args: Any, **kwargs: Any) -> Any:
        if committed:
            real(*args, **kwargs)
        raise AnswerLost("server closed the connection unexpectedly")

    setattr(store, method, lost)
    return store


# the engine's ports, faked -------------------------------------------------------------------
def review(*choices: str) -> Review:
    return Review(
        shape="plain",
        title="Approval needed",
        proposals=(Proposal("Send the draft", choices=choices or ("approve", "edit", "reject")),),
        summary="draft",
    )


@dataclass
class FakeGraph:
    """A graph that pauses on ``interrupts`` when started and ends once each is answered: the
    :class:`~bot.core.ports.Runner` and the :class:`~bot.core.ports.Agents` the engine asks.
    ``answers`` records every (thread, interrupt id, decision) it was resumed with."""

    interrupts: tuple[str, ...] = ("i1",)
    choices: tuple[str, ...] = ("approve", "edit", "reject")
    value: dict[str, Any] = field(default_factory=lambda: {"text": "Hello team"})
    fail_with: Exception | None = None  # raised by answer()
    stop_with: str | None = None  # answer() ends the run here with this report
    states: dict[str, RunState] = field(default_factory=dict)
    answers: list[tuple[str, str, Decision]] = field(default_factory=list)
    proceeded: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def waiting(self) -> RunState:
        pending = tuple(Pending(i, dict(self.value), node="review") for i in self.interrupts)
        return RunState(started=True, finished=False, interrupts=pending)

    # Runner
    effects_here = True  # its "effects" (none) run in the test's process

    def notify(self, settled: Any) -> None:
        pass

    def stop(self, graph: str, thread_id: str) -> None:
        self.stopped.append(thread_id)

    def close(self) -> None:
        pass

    def state(self, graph: str, thread_id: str) -> RunState:
        return self.states.get(thread_id, RunState(False, False, ()))

    # Agents
    def start(self, run: Run) -> RunState:
        self.states[run.thread_id] = self.waiting()
        return self.states[run.thread_id]

    def proceed(self, run: Run) -> RunState:
        self.proceeded.append(run.thread_id)
        self.states[run.thread_id] = self.waiting()
        return self.states[run.thread_id]

    def answer(self, run: Run, approval: Approval, decision: Decision) -> RunState | Stop:
        with self.lock:
            self.answers.append((run.thread_id, approval.interrupt_id, decision))
        if self.fail_with is not None:
            raise self.fail_with
        if self.stop_with is not None:
            return Stop(self.stop_with)
        # The other interrupts (parallel branches) still wait; the run ends with the last.
        before = self.states.get(run.thread_id, self.waiting())
        left = tuple(p for p in before.interrupts if p.id != approval.interrupt_id)
        values = {"decision": decision.effective_type}
        after = RunState(True, not left, left, values=values)
        self.states[run.thread_id] = after
        return after

    def report(self, graph: str, state: RunState) -> str:
        return f"Finished: {state.values.get('decision')}"

    def describe(self, graph: str, pending: Pending) -> Review:
        return review(*self.choices)

    def payload_of(self, pending: Pending) -> dict[str, Any]:
        return {"value": pending.value, "node": pending.node}

    def governing(self, pending: Pending) -> Any:
        return pending.value

    def permits(self, review: Review | None, decision: Decision) -> bool:
        return adapters.permits(review, decision)


@dataclass
class RecordingPublisher:
    """The engine's :class:`~bot.core.ports.Publisher` and :class:`~bot.core.ports.Answers`,
    recording each call; a posted card gets ts ``"1000.<n>"`` in its request's channel."""

    store: Store
    post_as: PostOutcome = "posted"
    calls: list[tuple[str, Any]] = field(default_factory=list)
    told: list[tuple[Outcome, str | None, str]] = field(default_factory=list)
    _posted: int = 0

    def named(self, method: str) -> list[Any]:
        return [args for name, args in self.calls if name == method]

    def post(self, approval: Approval) -> PostOutcome:
        self.calls.append(("post", approval))
        if self.post_as == "posted":
            self._posted += 1
            self.store.set_card(approval.id, approval.channel, f"1000.{self._posted:06d}")
        return self.post_as

    def ensure(self, approval: Approval) -> PostOutcome | None:
        self.calls.append(("ensure", approval))
        return None

    def due_window(self) -> tuple[int, int]:
        return 20, 5

    def refresh(self, approval: Approval, posts: Any = None, locked: bool = False) -> None:
        self.calls.append(("refresh", approval))

    def note_edit(self, run: Run, approval: Approval) -> None:
        self.calls.append(("note_edit", approval))

    def report(self, run: Run, report: str, card: Approval | None = None) -> str:
        self.calls.append(("report", (run.thread_id, report)))
        return "reported"

    def run_failed(self, run: Run, problem: str, decided: bool, attempts: int) -> str:
        self.calls.append(("run_failed", (run.thread_id, problem, decided)))
        return "told"

    def server_away(self, run: Run, problem: str, decided: bool) -> str:
        self.calls.append(("server_away", (run.thread_id, problem, decided)))
        return "told"

    def next_stage(self, approval: Approval, call: StageCall, edited_by: str | None) -> None:
        self.calls.append(("next_stage", (approval, call, edited_by)))

    def cancelled(self, run: Run, by: str) -> str:
        self.calls.append(("cancelled", (run.thread_id, by)))
        return "told"

    def card_link(self, approval: Approval) -> str | None:
        return f"https://slack.test/{approval.channel}/{approval.ts}"

    def retire_copy(self, approval: Approval, ts: str, link: str | None) -> None:
        self.calls.append(("retire_copy", (approval.id, ts, link)))

    def answer(self, outcome: Outcome, channel: str | None, user: str) -> None:
        self.told.append((outcome, channel, user))


@dataclass
class EngineParts:
    engine: Engine
    store: Store
    graph: FakeGraph
    publisher: RecordingPublisher
    tally: SignOffTally
    clock: Clock
    db: Database

    @property
    def control(self) -> RunControl:
        """Cancel and retry, built from the engine's fields as they are now: a field a test swaps
        on the engine reaches this, not the engine's own parts (built with it: pass a different
        worker or rules to :func:`engine_parts` instead)."""
        e = self.engine
        return RunControl(
            e.store, e.db, e.runner, e.journal, e.publisher, e.worker, e.apply, e.advance
        )

    def start(
        self, requester: str = "U0ASKER", text: str = "draft a note", token: str | None = None
    ) -> Run:
        """A run started and paused on its interrupts, each with its card posted; ``token``:
        started by that API principal (``tally.holders``) in ``requester``'s name."""
        hand = self.tally.holders.get(token) if token else None
        request = RunRequest("draft", text, requester, "C0ASK", "C0CARDS", token, hand)
        run = self.engine.start(request)
        return self.store.get_run(run.thread_id) or run

    def pending(self, run: Run) -> list[Approval]:
        return [a for a in self.store.run_approvals(run.thread_id) if a.pending]

    def approval(self, approval_id: str) -> Approval:
        approval = self.store.get_approval(approval_id)
        assert approval is not None
        return approval

    def close(self) -> None:
        self.engine.leases.stop()


def engine_parts(
    db: Database,
    clock: Clock,
    *,
    stage: Stage | None = None,
    stages: tuple[Stage, ...] = (),
    distinct: bool = False,
    groups: dict[str, list[str]] | Callable[[str], list[str]] | None = None,
    policy: Policy | None = None,
    graph: FakeGraph | None = None,
    publisher: Callable[[Store, SignOffTally], Any] | None = None,
    worker: Worker | None = None,
    rules: Callable[[Store, Database, Clock], Any] | None = None,
) -> EngineParts:
    """The engine as :func:`bot.wiring.build_deps` builds it, with fake ports. ``stage``: the
    default sign-off (default: nobody listed, so only the requester decides); ``stages``:
    a sign-off signed stage after stage; ``distinct``: nobody signs two requests of a run;
    ``groups``: user groups' members (or how to look
    them up: a lookup is what a click waits on between reading its request and claiming it);
    ``publisher``: builds the real Publisher and Answers
    (say :class:`bot.slack.publisher.SlackPublisher`) instead of the recording one; ``worker``:
    the pool work is handed to (default: run at once, in the caller's thread); ``rules``: builds
    the remembered approvals (default: none)."""
    store = Store(db, clock)
    known = groups or {}

    def members(group: str) -> list[str]:
        if callable(known):
            return known(group)
        if group not in known:
            raise LookupError(f"no group {group}")
        return known[group]

    section = Section(stage or Stage(), stages, distinct)
    tally = SignOffTally(store, db, Directory(members), SignOffs(section))
    graph = graph or FakeGraph()
    recording = RecordingPublisher(store)
    real = publisher(store, tally) if publisher else None
    audit = Audit(db, clock)
    trail = EffectTrail()  # the effects' tries audited, as bot.wiring has them
    engine = Engine(
        store=store,
        runner=graph,
        tally=tally,
        db=db,
        ledger=Ledger(db, clock, observe=trail, audited=trail.entry),
        worker=worker or InlineWorker(),
        policies=Policies(policy or Policy(remind_after=None, expire_after=None)),
        agents=graph,
        journal=Journal(audit, Metrics()),
        publisher=real or recording,
        answers=real or recording,
        rules=rules(store, db, clock) if rules else None,
    )
    return EngineParts(engine, store, graph, recording, tally, clock, db)


@pytest.fixture
def parts(db: Database, clock: Clock) -> Iterator[EngineParts]:
    """The engine and its store on ``db`` (both databases), with fake ports
    (:func:`engine_parts`); a test file may define its own with other options."""
    built = engine_parts(db, clock)
    yield built
    built.close()


@pytest.fixture
def pair(db: Database, clock: Clock) -> Iterator[EngineParts]:
    """The engine with two people listed who must both approve: U0ANN and U0BOB."""
    built = engine_parts(db, clock, stage=Stage(approvers=("U0ANN", "U0BOB"), quorum=2))
    yield built
    built.close()


@pytest.fixture
def approval(parts: EngineParts) -> Approval:
    """One request waiting for a decision, asked for by U0ASKER (who alone may decide it)."""
    [pending] = parts.pending(parts.start(requester="U0ASKER"))
    return pending
