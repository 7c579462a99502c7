"""What a LangGraph Server's thread in "error" reads as (bot.agents.server_refusals): the server
keeps the error's name and message only, no traceback. So an error in a task that asked through
LangChain's per-call tool gate, which runs the approved tool in that same task right after the
answer, may have come from the tool after it acted: never taken for a refusal there."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.types import _interrupt_id as interrupt_id

from bot.agents.server_refusals import refusal_of

PLAIN = "how many seats?"
PER_CALL = {"type": "tool_approval", "tool_call_id": "c1", "name": "post", "args": {}}


def _errored(value: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A thread whose one task took its answer to ``value`` and raised a ValueError."""
    task = {"id": "task-1", "name": "tools", "path": ["__pregel_pull", "tools"]}
    task["interrupts"] = [{"id": interrupt_id("tools:task-1", 0), "value": value}]
    task["error"] = "ValueError('Expecting value')"
    snapshot = {
        "tasks": [task],
        "metadata": {"source": "loop"},
        "checkpoint": {"checkpoint_id": "cp-1"},
    }
    thread = {"status": "error", "error": {"error": "ValueError", "message": "Expecting value"}}
    return snapshot, thread


@pytest.mark.parametrize(("value", "refused"), [(PLAIN, True), (PER_CALL, False)])
def test_a_value_error_is_a_refusal_unless_the_gate_ran_the_tool_in_that_task(value, refused):
    assert (refusal_of(*_errored(value)) is not None) is refused
