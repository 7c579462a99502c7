"""Whether a step that raised on its answer may have acted before it raised: then its error is
no refusal of the answer, whatever its type (``resp.json()``'s ``ValueError`` after the POST went
out), the same answer must not be handed over again by itself, and nothing may say that nothing
ran. Read from the error's traceback (and the ones it was raised from): a tool's run that the
error came out of had begun, on the answer, to act."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from types import CodeType, FrameType, TracebackType
from typing import Any

from langchain_core.tools import BaseTool
from langgraph.prebuilt.tool_node import ToolNode

# A tool's own run: whatever raises below one of these, the tool had begun to act.
TOOL_RUNS = frozenset({BaseTool.run.__code__, BaseTool.arun.__code__})
# Where a ToolNode runs the tool of a call: a tool that asks itself runs below it.
TOOL_NODE_RUNS = frozenset(
    {ToolNode._execute_tool_sync.__code__, ToolNode._execute_tool_async.__code__}
)
# Where a ToolNode hands a call to a wrapper (a middleware's ``wrap_tool_call``) to run: the
# wrapper may have asked, outside the tool, and then the tool it ran acted.
WRAPPED_RUNS = frozenset(
    code
    for run_one in (ToolNode._run_one, ToolNode._arun_one)
    for code in run_one.__code__.co_consts
    if isinstance(code, CodeType)
)


# Libraries that talk to something outside the process: an error raised within one of them (a
# reply that was not JSON, a connection lost mid-exchange) came while the step was talking to
# a server, which may have acted on what it was sent. Model clients (openai, langchain) are not
# on the list, asking a model again changing nothing outside; but the HTTP library under them
# is, so a reply from the model's server that its client could not read counts as talking out
# (the safe side: a failure with Retry). A library's refusal before it sent anything (a bad URL
# scheme, a newline in a header) counts too.
TALKING = (
    "socket",
    "ssl",
    "http.client",
    "urllib.request",
    "smtplib",
    "urllib3",
    "requests",
    "httpx",
    "httpcore",
    "aiohttp",
    "slack_sdk",
    "psycopg",
    "botocore",
)


def may_have_run(value: Any, error: BaseException | None) -> bool:
    """Whether the task that asked ``value`` may have run a tool on its answer before it
    raised ``error``.

    - A ``tool_approval`` (LangChain's per-call gate) asks outside the tool and runs it in the
      same task right after the answer: any tool run in the traceback acted. An error raised
      before it (LangGraph checking the decision against the schema) ran nothing. ``error``
      None (a LangGraph Server keeps an error's name only): it may have.
    - Any other question may be asked by a tool itself (LangGraph's tutorial wrapper asks in
      the tool's body, then runs the wrapped tool): the tool a ToolNode ran is the one that
      asked, so only a tool run below it acted. Unless the ToolNode ran it through a wrapper (a
      middleware's ``wrap_tool_call``), which may have asked before it ran the tool: then, as
      in a node that is no ToolNode, any tool run acted. Without a traceback nothing can be
      said: it did not."""
    if isinstance(value, Mapping) and value.get("type") == "tool_approval":
        return error is None or any(_acting_runs(e.__traceback__, False) for e in _chain(error))
    return error is not None and any(_acting_runs(e.__traceback__, True) for e in _chain(error))


def talked_out(error: BaseException) -> bool:
    """Whether ``error``, or one it was raised from, came out of a library that talks to a
    server (:data:`TALKING`): ``resp.json()``'s ``ValueError`` after a POST a node made on its
    answer is no refusal of the answer, whatever its type, however the node asked."""
    return any(_talking(frame) for e in _chain(error) for frame in _frames(e.__traceback__))


def _talking(frame: FrameType) -> bool:
    module = frame.f_globals.get("__name__", "")
    return any(module == name or module.startswith(f"{name}.") for name in TALKING)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        yield current
        current = current.__cause__ or current.__context__


def _acting_runs(trace: TracebackType | None, asker_is_a_tool: bool) -> bool:
    """Whether a tool run the error came out of acted; with ``asker_is_a_tool``, the first tool
    run a ToolNode started itself (through no wrapper) is the one that asked, not one that
    acted."""
    under_tool_node = wrapped = False
    for frame in _frames(trace):
        code = frame.f_code
        if code in WRAPPED_RUNS:
            wrapped = True
        elif code in TOOL_NODE_RUNS:
            under_tool_node, wrapped = asker_is_a_tool and not wrapped, False
        elif code in TOOL_RUNS:
            if not under_tool_node:
                return True
            under_tool_node = False
    return False


def _frames(trace: TracebackType | None) -> Iterator[FrameType]:
    """Each frame the error came through, once: a frame that caught and raised it again is in
    the traceback twice."""
    seen: set[int] = set()
    while trace is not None:
        if id(trace.tb_frame) not in seen:
            seen.add(id(trace.tb_frame))
            yield trace.tb_frame
        trace = trace.tb_next
