"""Tracing: what each LangGraph invocation is labelled with, and where a person can see it.

Every start, continue and resume of a run is one invocation, and one root trace in LangSmith when
tracing is on (LangChain's tracer sends it; the bot sends nothing itself). :func:`for_start`,
:func:`for_continue` and :func:`for_resume` say what that trace carries: its id (chosen here, so
a card can link to it before anything reached LangSmith), a name, the metadata (graph, run,
requester, channel; for a resume the decision, who took it and through which door) and tags.
LangSmith groups a run's traces by the ``thread_id`` in the metadata.

:class:`TraceLinks` turns a trace id into a link for the card and ``/agent status``: the
project's and organisation's ids are asked of LangSmith once (a short deadline; a failure is
asked again a minute later, meanwhile cards carry no link). With tracing off it gives nothing.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.domain.models import Decision, Run

logger = logging.getLogger(__name__)

RETRY_LOOKUP = 60.0  # seconds before a failed project lookup is tried again
LOOKUP_TIMEOUT_MS = 3000
FLUSH_DEADLINE = 3.0  # seconds the shutdown waits for traces still to send


@dataclass(frozen=True)
class Trace:
    id: str  # the root run's id (a UUID)
    name: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    tags: tuple[str, ...] = ()

    def config(self) -> dict[str, Any]:
        """The part of a LangChain ``RunnableConfig`` that labels the invocation."""
        return {
            "run_id": uuid.UUID(self.id),
            "run_name": self.name,
            "metadata": dict(self.metadata),
            "tags": list(self.tags),
        }

    def again(self) -> Trace:
        """The same labels for a follow-up invocation (a root trace's id is used once)."""
        return Trace(uuid.uuid4().hex, self.name, self.metadata, self.tags)


def _base(run: Run, step: str) -> tuple[dict[str, Any], list[str]]:
    metadata = {
        "graph": run.graph,
        "run_id": run.thread_id,
        "thread_id": run.thread_id,  # LangSmith shows a run's traces together by this key
        "requester": run.requester,
        "channel": run.channel,
        "step": step,
    }
    return metadata, [f"graph:{run.graph}", f"step:{step}", "slack-approvals"]


def for_start(run: Run) -> Trace:
    metadata, tags = _base(run, "start")
    return Trace(uuid.uuid4().hex, run.graph, metadata, tuple(tags))


def for_continue(run: Run) -> Trace:
    """A run continued with no decision: after a crash, or Retry."""
    metadata, tags = _base(run, "continue")
    return Trace(uuid.uuid4().hex, run.graph, metadata, tuple(tags))


def door(decision: Decision) -> str:
    """Through which door a decision came: button, modal, home, api, rule or scheduler."""
    if decision.via:
        return decision.via
    if decision.type == "expire":
        return "scheduler"
    if decision.origin == "view":
        return "home"
    if decision.origin and decision.origin.startswith("message:"):
        return "button"
    return "modal"


def for_resume(run: Run, approval_id: str, decision: Decision) -> Trace:
    metadata, tags = _base(run, "resume")
    metadata.update(
        {
            "request_id": approval_id,
            "decision": decision.effective_type,
            "decided_by": decision.by,
            "approvers": list(decision.approvers or [decision.by]),
            "door": door(decision),
            "version": decision.version or 1,
        }
    )
    if decision.on_behalf_of:
        metadata["on_behalf_of"] = decision.on_behalf_of
    tags += [f"decision:{decision.effective_type}", f"door:{metadata['door']}"]
    return Trace(uuid.uuid4().hex, run.graph, metadata, tuple(tags))


@dataclass(frozen=True)
class Project:
    host: str  # LangSmith's web address
    tenant_id: str
    project_id: str

    def url(self, trace_id: str) -> str:
        run = uuid.UUID(trace_id)
        return f"{self.host}/o/{self.tenant_id}/projects/p/{self.project_id}/r/{run}?poll=true"


Lookup = Callable[[], Project]


class TraceLinks:
    """Links to traces, when tracing is on; ``lookup`` finds the project (passed in by tests)."""

    def __init__(self, lookup: Lookup | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.lookup = lookup
        self.clock = clock
        self._project: Project | None = None
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self.lookup is not None

    def url(self, trace_id: str | None) -> str | None:
        if not trace_id or self.lookup is None:
            return None
        project = self._find()
        return project.url(trace_id) if project else None

    def _find(self) -> Project | None:
        with self._lock:
            if self._project is not None or self.lookup is None:
                return self._project
            if self._failed_at is not None and self.clock() - self._failed_at < RETRY_LOOKUP:
                return None
            try:
                self._project = self.lookup()
            except Exception as exc:  # LangSmith away: no links for a minute, never an error
                logger.warning("LangSmith: could not find the tracing project (%s)", exc)
                self._failed_at = self.clock()
            return self._project


def langsmith_links(project: str | None) -> TraceLinks:
    """Links into ``project`` on the LangSmith that ``LANGSMITH_ENDPOINT`` names; none when
    tracing is off (``project`` None)."""
    if project is None:
        return TraceLinks(None)

    def lookup() -> Project:
        from langsmith import Client
        from langsmith.utils import get_host_url

        client = Client(timeout_ms=LOOKUP_TIMEOUT_MS)
        found = client.read_project(project_name=project)
        host = get_host_url(None, client.api_url)
        return Project(host.rstrip("/"), str(found.tenant_id), str(found.id))

    return TraceLinks(lookup)


def flush_traces(deadline: float = FLUSH_DEADLINE) -> bool:
    """Send what LangChain's tracer still holds (at shutdown; it sends in the background),
    waiting ``deadline`` seconds at most: LangSmith away or refusing never holds up a stop.
    True when everything went."""
    from langchain_core.tracers.langchain import wait_for_all_tracers

    def flush() -> None:
        try:
            wait_for_all_tracers()
        except Exception:  # LangSmith away: the traces are lost, the shutdown is not
            logger.warning("LangSmith: traces not sent before stopping", exc_info=True)

    sender = threading.Thread(target=flush, name="trace-flush", daemon=True)
    sender.start()
    sender.join(deadline)
    if sender.is_alive():
        logger.warning("LangSmith: gave up sending traces after %.0fs", deadline)
    return not sender.is_alive()
