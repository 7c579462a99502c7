"""Runs on a LangGraph Server (Platform or self-hosted), through ``langgraph-sdk``.

The same operations as :class:`bot.agents.runner.InProcessRunner`, except that a run is handed to
the
server's task queue and the call returns at once with ``RunState.running``. The bot hears that
the thread settled (waits for a person, ended, or failed) in two ways, either of which is enough:

- the run's ``webhook``, pointing at the bot's ``/langgraph/webhook``
(:mod:`bot.http.langgraph_webhook`);
- a poller that reads the status of every thread this process has under way.

A thread is watched whenever :meth:`ServerRunner.state` finds it busy, so after a restart the
recovery sweep (which reads every unfinished run's state) puts it back under watch: no pause is
missed while the bot was down. Each resume asks the server for ``multitask_strategy="reject"``,
so even a second resume slipping past the bot's own claim cannot start a second run on the thread.
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
from langgraph_sdk.errors import APIStatusError, ConflictError, NotFoundError

from bot.agents.runner import (
    ResumeRefused,
    RunFailed,
    RunnerBusy,
    RunnerUnavailable,
    RunState,
    Settled,
)
from bot.agents.server_refusals import (
    ASKED_AS,
    Refusal,
    asked_as,
    refusal_of,
    refused_answers,
    same_answers,
)
from bot.agents.traces import Trace
from bot.domain.review import Pending

logger = logging.getLogger(__name__)

BUSY = "busy"
NAMESPACE = uuid.UUID("4f7c1f1e-6a0b-4b8e-9a51-3c2f0d7d9b11")  # for thread ids not UUIDs
Hook = Callable[[str], str | None]  # our thread id -> the webhook URL for its runs (or None)


def server_thread(thread_id: str) -> str:
    """LangGraph Server wants UUID thread ids; the bot's are hex UUIDs (or any text, in tests)."""
    try:
        return str(uuid.UUID(thread_id))
    except ValueError:
        return str(uuid.uuid5(NAMESPACE, thread_id))


class ServerRunner:
    effects_here = False  # the graphs' effects happen on the server

    def __init__(
        self, client: Any, url: str, hook: Hook | None = None, poll_every: float = 1.0
    ) -> None:
        """``client``: a ``langgraph_sdk`` sync client for the server at ``url``; ``hook``: the
        webhook URL for a thread's runs (None: polling only); ``poll_every``: seconds between
        looks at the threads under way."""
        self.client = client
        self.url = url
        self.hook = hook
        self.poll_every = poll_every
        self._settled: Settled | None = None
        self._watched: set[str] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._poller: threading.Thread | None = None

    # the Runner operations ------------------------------------------------------
    def notify(self, settled: Settled) -> None:
        self._settled = settled

    def start(
        self, graph: str, thread_id: str, inputs: dict[str, Any], trace: Trace | None = None
    ) -> RunState:
        with self._calling():
            self.client.threads.create(
                thread_id=server_thread(thread_id),
                if_exists="do_nothing",
                graph_id=graph,
                metadata={"bot_thread": thread_id},
            )
        return self._run(graph, thread_id, trace, input=inputs)

    def proceed(self, graph: str, thread_id: str, trace: Trace | None = None) -> RunState:
        return self._run(graph, thread_id, trace, input=None)

    def resume(
        self, graph: str, thread_id: str, answers: dict[str, Any], trace: Trace | None = None
    ) -> RunState:
        """Raises :class:`RunnerBusy` when another run holds the thread (a decision given while
        the one before it is still being carried out): this one is resumed once it settles.
        Raises :class:`ResumeRefused` when these answers are the ones the graph refused last
        (:mod:`bot.agents.server_refusals`); the thread is then asked again without them, as
        it is before any other answer is sent (:class:`RunnerBusy`: sent once it waits)."""
        try:
            return self._resume(graph, thread_id, answers, trace)
        except ConflictError as exc:
            self.watch(thread_id)
            raise RunnerBusy(f"thread {thread_id} has a run under way") from exc

    def _resume(
        self, graph: str, thread_id: str, answers: dict[str, Any], trace: Trace | None
    ) -> RunState:
        remote = server_thread(thread_id)
        with self._calling():
            thread = self.client.threads.get(remote)
            snapshot = self.client.threads.get_state(remote)
            refusal = refusal_of(snapshot, thread)
            last = self.client.runs.list(remote, limit=1) if refusal else None
        known = asked_as(snapshot)
        if refusal is not None:
            refused = refused_answers(last[0] if last else None, known)
            # Forked without the refused answers: its node asks again (under new ids).
            marks = {ASKED_AS: refusal.asked_as}
            at = refusal.checkpoint_id
            self._run(graph, thread_id, None, False, marks, input=None, checkpoint_id=at)
            if same_answers(answers, refused, refusal.interrupts):
                raise ResumeRefused(refusal.reason, refusal.interrupts)
            raise RunnerBusy(f"thread {thread_id} is asked again; the answer follows")
        current = {bot_id: own for own, bot_id in known.items()}
        sent = {current.get(i, i): value for i, value in answers.items()}
        return self._run(graph, thread_id, trace, twin_ok=False, command={"resume": sent})

    def update(
        self, graph: str, thread_id: str, values: dict[str, Any] | None, as_node: str | None
    ) -> None:
        with self._calling():
            self.client.threads.update_state(server_thread(thread_id), values, as_node=as_node)

    def state(self, graph: str, thread_id: str) -> RunState:
        remote = server_thread(thread_id)
        with self._calling():
            try:
                thread = self.client.threads.get(remote)
            except NotFoundError:
                return RunState(started=False, finished=False, interrupts=())
            status = thread.get("status")
            if status == BUSY:
                self.watch(thread_id)
                return RunState(started=True, finished=False, interrupts=(), running=True)
            snapshot = self.client.threads.get_state(remote)
            failed = None
            # A refused answer leaves the thread waiting on its interrupt: not failed.
            refusal = refusal_of(snapshot, thread)
            if status == "error" and refusal is None:
                failed = self._error_of(remote, thread)
            elif status == "interrupted" and _no_pause_asked(snapshot):
                failed = self._stopped_there(remote)
        return state_of(snapshot, status, failed, refusal)

    def stop(self, graph: str, thread_id: str) -> None:
        """A cancelled run: interrupt whatever the server still has queued or running on it."""
        remote = server_thread(thread_id)
        with self._calling():
            for status in ("pending", "running"):
                for run in self.client.runs.list(remote, status=status, limit=100):
                    self.client.runs.cancel(remote, run["run_id"], action="interrupt")

    # hearing that a thread settled ---------------------------------------------------
    def watch(self, thread_id: str) -> None:
        """Look at ``thread_id`` until its run waits or ends, then tell the engine."""
        with self._lock:
            self._watched.add(thread_id)
            if self._poller is None:
                self._poller = threading.Thread(target=self._poll, name="lg-poll", daemon=True)
                self._poller.start()
        self._wake.set()

    def settled(self, thread_id: str) -> None:
        """The webhook said ``thread_id``'s run is over: stop watching, tell the engine."""
        with self._lock:
            self._watched.discard(thread_id)
        if self._settled is not None:
            self._settled(thread_id)

    def close(self) -> None:
        self._stopped.set()
        self._wake.set()

    def _poll(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.poll_every)
            self._wake.clear()
            with self._lock:
                watched = list(self._watched)
            for thread_id in watched:
                try:
                    thread = self.client.threads.get(server_thread(thread_id))
                except NotFoundError:
                    status = "gone"
                except Exception:  # the server is away: keep watching, say so once a round
                    logger.warning("LangGraph server %s is not answering; still watching", self.url)
                    break
                else:
                    status = thread.get("status")
                if status != BUSY:
                    self.settled(thread_id)

    # calls ------------------------------------------------------------------------
    def _run(
        self,
        graph: str,
        thread_id: str,
        trace: Trace | None,
        twin_ok: bool = True,
        marks: dict[str, Any] | None = None,
        **what: Any,
    ) -> RunState:
        """``twin_ok``: a run already under way on the thread does the same work (a start or a
        continue after a crash), so it is the one to wait for; else the conflict is raised.
        ``trace``: its metadata goes with the run (the server traces it itself), with
        ``marks``."""
        remote = server_thread(thread_id)
        with self._calling():
            try:
                self.client.runs.create(
                    remote,
                    graph,
                    webhook=self.hook(thread_id) if self.hook else None,
                    multitask_strategy="reject",
                    durability="sync",
                    metadata={**(trace.metadata if trace else {}), **(marks or {})} or None,
                    **what,
                )
            except ConflictError:
                if not twin_ok:
                    raise
                logger.info("thread %s already has a run under way; waiting for it", thread_id)
        self.watch(thread_id)
        return RunState(started=True, finished=False, interrupts=(), running=True)

    def _error_of(self, remote: str, thread: dict[str, Any]) -> str:
        """Why the thread's last run failed: the server keeps its exception on the thread. Not
        ``runs.join``: langgraph-sdk reconnects it (five more tries, sleeping up to 5 s each)
        outside the deadline of each request, ~50 s in all."""
        error = thread.get("error")
        if isinstance(error, dict):
            return f"{error.get('error', 'Error')}: {error.get('message', '')}".strip(": ")
        runs = self.client.runs.list(remote, limit=1)
        if not runs:
            return "the run failed on the LangGraph server"
        return f"the run ended as {runs[0].get('status')} on the LangGraph server"

    def _stopped_there(self, remote: str) -> str | None:
        """A thread "interrupted" with no pause asked is at a static breakpoint, unless its
        last run was stopped on the server (Studio's stop, another client's cancel): then it
        is reported, and Retry continues it, rather than shown as a breakpoint it is not."""
        runs = self.client.runs.list(remote, limit=1)
        if runs and runs[0].get("status") == "interrupted":
            return "the run was stopped on the LangGraph server before it finished"
        return None

    @contextmanager
    def _calling(self) -> Iterator[None]:
        """Turn "the server is away or refused" into :class:`RunnerUnavailable`, naming it."""
        try:
            yield
        except (ConflictError, NotFoundError):
            raise  # answers the caller looks for
        except APIStatusError as exc:
            code = exc.status_code
            if code in (401, 403):
                raise RunnerUnavailable(
                    f"the LangGraph server at {self.url} refused the key ({code}): "
                    "check LANGGRAPH_API_KEY"
                ) from exc
            if code >= 500 or code == 429:
                raise RunnerUnavailable(
                    f"the LangGraph server at {self.url} answered {code}"
                ) from exc
            refused = f"the LangGraph server refused the call ({code}): {exc.message}"
            raise RunFailed(refused) from exc
        except httpx.TransportError as exc:
            raise RunnerUnavailable(
                f"the LangGraph server at {self.url} is not answering ({type(exc).__name__})"
            ) from exc


def _no_pause_asked(snapshot: dict[str, Any]) -> bool:
    """Work left and no ``interrupt()`` waiting: a static breakpoint, or a run cut short."""
    tasks = snapshot.get("tasks") or []
    return bool(snapshot.get("next")) and not any(t.get("interrupts") for t in tasks)


def state_of(
    snapshot: dict[str, Any],
    status: str | None,
    failed: str | None = None,
    refusal: Refusal | None = None,
) -> RunState:
    """A thread's state as the server shows it (``status``: the thread's), in the bot's terms;
    ``refusal``: the answers its graph refused, which it still waits on."""
    values = dict(snapshot.get("values") or {}) if isinstance(snapshot.get("values"), dict) else {}
    tasks = snapshot.get("tasks") or []
    # Each pause by the id the bot knows it by (a fork of ours asks under new ones).
    known = asked_as(snapshot)
    interrupts = tuple(
        Pending(known.get(i["id"], i["id"]), i.get("value"), task.get("name") or "", _schema(i))
        for task in tasks
        for i in task.get("interrupts") or ()
    )
    following = tuple(snapshot.get("next") or ())
    started = snapshot.get("created_at") is not None
    paused = None
    # The step that wrote the checkpoint: "loop" for the graph's own; "update" for an Edit's
    # update_state, after which the run is to be continued, not asked about again.
    source = (snapshot.get("metadata") or {}).get("source", "loop")
    if status == "interrupted" and following and not interrupts and source == "loop" and not failed:
        # A static breakpoint (``interrupt_before``): the run stopped before the next node. (An
        # idle thread with work left is a run cut short: ``stuck``, and the engine continues it.)
        checkpoint = (snapshot.get("checkpoint") or {}).get("checkpoint_id", "")
        paused = Pending(f"bp:{checkpoint}", None, following[0], None, "before", values)
    return RunState(
        started=started,
        finished=started and not following and not tasks,
        interrupts=interrupts,
        values=values,
        breakpoint=paused,
        failed=failed,
        refused=dict.fromkeys(refusal.interrupts, refusal.reason) if refusal else {},
    )


def _schema(interrupt: dict[str, Any]) -> dict[str, Any] | None:
    schema = interrupt.get("response_schema")
    return schema if isinstance(schema, dict) else None
