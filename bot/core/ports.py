"""What the decision core needs of the edges, as protocols the edges implement.

The core (:mod:`bot.core.engine`) decides; it does not know how a run is carried out (LangGraph
in this process or on a LangGraph Server: :mod:`bot.agents`) nor how people see it (Slack:
:mod:`bot.slack`). :mod:`bot.wiring` builds the implementations and passes them in. Values cross
these seams typed (records, :class:`RunState`, :mod:`bot.core.outcomes`), never as Slack text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from bot.core.outcomes import Outcome, Retry
from bot.domain.models import Approval, CardPost, Decision, Run
from bot.domain.review import Pending, Review, Stop
from bot.domain.signoff import Stage
from bot.store.rules import Rule


# runs -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RunState:
    started: bool
    finished: bool
    interrupts: tuple[Pending, ...]
    values: dict[str, Any] = field(default_factory=dict)
    breakpoint: Pending | None = None
    running: bool = False  # a run is under way elsewhere (on a LangGraph Server)
    failed: str | None = None  # its last run ended in this error (on a LangGraph Server)
    # Pending interrupts whose last answer the graph refused -> its error (on a LangGraph
    # Server, known once the run that took the answer settled; in process, ResumeRefused).
    refused: dict[str, str] = field(default_factory=dict)

    @property
    def pending(self) -> tuple[Pending, ...]:
        """Everything a person must decide now: interrupts, or the breakpoint."""
        return self.interrupts or ((self.breakpoint,) if self.breakpoint else ())

    @property
    def stuck(self) -> bool:
        """Neither finished nor waiting for anyone: a step that died half way, to continue."""
        quiet = not (self.running or self.failed)
        return self.started and not self.finished and not self.pending and quiet

    def waiting_on(self, interrupt_id: str) -> bool:
        return any(p.id == interrupt_id for p in self.pending)


class RunnerUnavailable(Exception):
    """The agent server did not answer or refused for its own reasons: nothing was done, and
    the same call can be made again later."""


class RunnerBusy(Exception):
    """The thread has a run under way (on a LangGraph Server): nothing was done; the same call
    is made again once the thread settles."""


class RunFailed(Exception):
    """The graph raised while running elsewhere; the message is its error."""


# What a node raises because of the value it was handed (a programming or validation error):
# the same value, the same error. Never an error that may pass (OSError: connections, timeouts;
# the database's own errors).
SAME_AGAIN = (
    ValueError,
    TypeError,
    LookupError,
    AssertionError,
    AttributeError,
    NotImplementedError,
)


def same_again(error: BaseException) -> bool:
    """Whether sending the same value again would raise ``error`` again."""
    return isinstance(error, SAME_AGAIN) and not isinstance(error, OSError)


_FIX = "_bot_fix"  # where an edge's word on what to fix is kept on an error


def with_fix(error: BaseException, fix: str) -> None:
    """An edge's word on what to fix for ``error``, one it recognises (a model's server that
    could not be reached: :func:`bot.agents.toolkit.unreachable_model`), told after the error's
    own message (:func:`bot.core.run_ends.failure_text`). The error itself is unchanged: what
    is tried again stays as it was."""
    setattr(error, _FIX, fix)


def fix_of(error: BaseException) -> str:
    """What :func:`with_fix` said of ``error``; empty when nothing."""
    fix = getattr(error, _FIX, "")
    return fix if isinstance(fix, str) else ""


class MayHaveActed(Exception):
    """A resumed step failed after it may have acted on its answer (a tool the per-call gate ran
    raised): whatever the error (its ``__cause__``), sending the answer again may act again, so
    it is never tried again by itself."""


class ResumeRefused(Exception):
    """The graph's own code refused what a resume handed it: the node that asked raised a
    programming or validation error (``ValueError``, ``TypeError``, ...) when given the value,
    and its checkpoint did not move: the thread still waits on the same ``interrupts``, the
    refused value is no longer stored with them, and a new answer can be given. The message is
    the graph's error. Errors that may pass (a connection, a timeout, the database) are never
    this: they are raised as they came, and the decision is tried again."""

    def __init__(self, message: str, interrupts: tuple[str, ...]) -> None:
        super().__init__(message)
        self.interrupts = interrupts


Settled = Callable[[str], None]  # called with a thread id once its run waits or ends


class Runner(Protocol):
    """Start a run, resume it, read what it waits for (:mod:`bot.agents.runner` has the
    in-process one, :mod:`bot.agents.langgraph_server` the remote one). ``trace``: what the
    invocation is labelled with (:class:`bot.agents.traces.Trace`); opaque to the core."""

    # True when the graph's steps run in this process, their effects through the bot's ledger
    # (bot.core.ledger.Ledger.after can hold them back); False when they run elsewhere.
    effects_here: bool

    def notify(self, settled: Settled) -> None: ...

    def stop(self, graph: str, thread_id: str) -> None: ...

    def close(self) -> None: ...

    def start(
        self, graph: str, thread_id: str, inputs: dict[str, Any], trace: Any = None
    ) -> RunState: ...

    def proceed(self, graph: str, thread_id: str, trace: Any = None) -> RunState: ...

    def resume(
        self, graph: str, thread_id: str, answers: dict[str, Any], trace: Any = None
    ) -> RunState: ...

    def update(
        self, graph: str, thread_id: str, values: dict[str, Any] | None, as_node: str | None
    ) -> None: ...

    def state(self, graph: str, thread_id: str) -> RunState: ...


class Agents(Protocol):
    """What a pause means and what a decision sends back, per graph (the interrupt adapters,
    the graph's settings, tracing): :class:`bot.agents.driver.EngineAgents`."""

    def start(self, run: Run) -> RunState: ...

    def proceed(self, run: Run) -> RunState: ...

    def answer(self, run: Run, approval: Approval, decision: Decision) -> RunState | Stop: ...

    def report(self, graph: str, state: RunState) -> str: ...

    def describe(self, graph: str, pending: Pending) -> Review: ...

    def payload_of(self, pending: Pending) -> dict[str, Any]: ...

    # What the policy's sections read of a pause (a breakpoint's: the calls its card shows).
    def governing(self, pending: Pending) -> Any: ...

    def permits(self, review: Review | None, decision: Decision) -> bool: ...


# people -------------------------------------------------------------------------------------
PostOutcome = Literal["posted", "retry", "refused"]


@dataclass(frozen=True)
class StageCall:
    """The stage a request now waits on, for the people who sign it."""

    label: str
    stage: Stage
    requester: str


class Publisher(Protocol):
    """How a run is shown to people (its cards, its thread): :class:`bot.slack.publisher.
    SlackPublisher`. Each method renders in the edge's own words."""

    def post(self, approval: Approval) -> PostOutcome: ...

    def ensure(self, approval: Approval) -> PostOutcome | None: ...

    def due_window(self) -> tuple[int, int]:
        """How many cards the sweep tries at most, all channels together and per channel."""
        ...

    def refresh(
        self, approval: Approval, posts: Sequence[CardPost] | None = None, locked: bool = False
    ) -> None:
        """Redraw every card of the request; ``posts``: its card posts, when the caller read
        them already (they are read otherwise); ``locked``: the caller read ``approval`` under
        its run's lock, which it still holds (a decided request is not reopened meanwhile)."""
        ...

    def note_edit(self, run: Run, approval: Approval) -> None: ...

    def report(self, run: Run, report: str, card: Approval | None = None) -> str:
        """The run's outcome, in the thread of ``card`` (its latest card, when the caller has
        it at hand) or of the latest card it finds."""
        ...

    def run_failed(self, run: Run, problem: str, decided: bool, attempts: int) -> str: ...

    def server_away(self, run: Run, problem: str, decided: bool) -> str: ...

    def agent_refused(self, run: Run, approval: Approval, claimed: Approval) -> str:
        """One line in the run's thread: the graph refused the decision ``claimed`` (as it was
        claimed) and ``approval`` (as it is now, pending again) is asked again."""
        ...

    def next_stage(self, approval: Approval, call: StageCall, edited_by: str | None) -> None: ...

    def cancelled(self, run: Run, by: str) -> str: ...

    def by_rule(self, run: Run, approval: Approval, rule: Rule) -> str:
        """One line in the run's thread: a remembered approval answered this request."""
        ...

    def card_link(self, approval: Approval) -> str | None: ...

    def retire_copy(self, approval: Approval, ts: str, link: str | None) -> None: ...


class Answers(Protocol):
    """How the person behind a click hears what came of it (an ephemeral in Slack)."""

    def answer(self, outcome: Outcome | Retry, channel: str | None, user: str) -> None: ...
