"""Answers a graph on a LangGraph Server took and refused (the in-process runner's
``InProcessRunner._refused``, done through the server's API).

A node that takes its answer and raises (``ValueError``, ...) leaves the thread in "error" at the
checkpoint that asked, the answer stored with the node's task: every later resume of that
interrupt is handed the stored one, whatever it sends, and the server's API cannot take a stored
write back. A run from that checkpoint (``checkpoint_id``, no input: LangGraph's time travel)
forks it without the stored answers, and the node asks again, under new interrupt ids (they are
named after the checkpoint). The fork's run carries the ids its interrupts had before
(:data:`ASKED_AS`, in its metadata, which the fork checkpoint keeps), so the bot goes on naming
each pause by its first id: its request still matches, and the answer is sent to the new one.

Recognised only where a fork asks nothing twice and runs nothing again: every task of the
checkpoint waits on its first interrupt, the graph's own (a subgraph's, a second interrupt, or a
task that finished would be rerun or asked again from the start), and the run's error is one of
the refusals' names (the server keeps only the name). Never for a task that asked through
LangChain's per-call tool gate: it runs the approved tool in that task right after the answer,
and with no traceback nothing tells the tool's own ValueError, after it acted, from a refusal
(:func:`bot.agents.acted.may_have_run`). Anything else is a failed run, as before.
"""

from __future__ import annotations

import builtins
import json
from dataclasses import dataclass
from typing import Any

from langgraph.types import _interrupt_id as interrupt_id  # how LangGraph names an interrupt

from bot.agents import acted
from bot.agents.runner import REFUSALS

# In a fork's metadata: a task's path -> the id its interrupt had before the fork.
ASKED_AS = "bot_asked_as"
# What a node raising one of REFUSALS is called (the server keeps the error's name only); a
# response_schema's rejection is pydantic's.
REFUSAL_NAMES = frozenset(
    {
        name
        for name, cls in vars(builtins).items()
        if isinstance(cls, type) and issubclass(cls, REFUSALS) and not issubclass(cls, OSError)
    }
    | {"ValidationError"}
)


@dataclass(frozen=True)
class Refusal:
    reason: str  # the graph's error
    interrupts: tuple[str, ...]  # the refused interrupts, by the ids the bot knows
    checkpoint_id: str  # the graph's own checkpoint that asked, to fork
    asked_as: dict[str, str]  # each waiting task's path -> its interrupt's id as the bot knows it


def refusal_of(snapshot: dict[str, Any], thread: dict[str, Any]) -> Refusal | None:
    """The refusal a thread in "error" holds (see the module's docstring), or None."""
    error = thread.get("error")
    tasks = snapshot.get("tasks") or []
    if thread.get("status") != "error" or not isinstance(error, dict) or not tasks:
        return None
    if error.get("error") not in REFUSAL_NAMES or not all(_first_asked(t) for t in tasks):
        return None
    if any(acted.may_have_run(i.get("value"), None) for t in tasks for i in t["interrupts"]):
        return None
    known = asked_as(snapshot)
    refused = tuple(known[t["interrupts"][0]["id"]] for t in tasks if t.get("error"))
    if not refused:
        return None
    checkpoint = _forkable(snapshot)
    if checkpoint is None:
        return None
    reason = str(error.get("message") or error.get("error")).strip()
    paths = {_path(t): known[t["interrupts"][0]["id"]] for t in tasks}
    return Refusal(reason, refused, checkpoint, paths)


def asked_as(snapshot: dict[str, Any]) -> dict[str, str]:
    """Each interrupt waiting in ``snapshot`` -> its id as the bot knows it: the one it had
    before a fork of ours asked it again; else its own. Only at the fork checkpoint itself:
    every checkpoint the fork's run writes carries its metadata, and a question asked a step
    later (the node asked nothing this time, then again) is a new one, whoever answered the
    first."""
    metadata = snapshot.get("metadata") or {}
    before = (metadata.get(ASKED_AS) or {}) if metadata.get("source") == "fork" else {}
    known: dict[str, str] = {}
    for task in snapshot.get("tasks") or []:
        for i in task.get("interrupts") or ():
            first = _first_asked(task) and before.get(_path(task))
            known[i["id"]] = first or i["id"]
    return known


def refused_answers(run: dict[str, Any] | None, known: dict[str, str]) -> dict[str, Any]:
    """The answers the thread's last run sent, by the ids the bot knows, as JSON has them."""
    command = ((run or {}).get("kwargs") or {}).get("command") or {}
    resume = command.get("resume")
    if not isinstance(resume, dict):
        return {}
    return {known.get(str(k), str(k)): _plain(v) for k, v in resume.items()}


def same_answers(answers: dict[str, Any], refused: dict[str, Any], ids: tuple[str, ...]) -> bool:
    return all(i in answers and i in refused and _plain(answers[i]) == refused[i] for i in ids)


def _forkable(snapshot: dict[str, Any]) -> str | None:
    """The checkpoint to fork: the one that asked, when the graph's loop saved it; for a fork
    of ours, the one it was forked from (LangGraph does not fork a fork again: a run from it
    would leave the answers stored there). None for any other (an update's)."""
    metadata = snapshot.get("metadata") or {}
    source = metadata.get("source")
    if source == "fork" and ASKED_AS in metadata:
        snapshot = {"checkpoint": snapshot.get("parent_checkpoint")}
    elif source != "loop":
        return None
    return (snapshot.get("checkpoint") or {}).get("checkpoint_id") or None


def _first_asked(task: dict[str, Any]) -> bool:
    """The task waits on one interrupt, its first, asked by the node itself."""
    interrupts = task.get("interrupts") or []
    namespace = f"{task.get('name')}:{task.get('id')}"
    return len(interrupts) == 1 and interrupts[0].get("id") == interrupt_id(namespace, 0)


def _path(task: dict[str, Any]) -> str:
    return json.dumps(task.get("path") or [task.get("name")])


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=str))
