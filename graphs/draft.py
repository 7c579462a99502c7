"""``draft``: the model drafts a Slack message, a person approves, edits or rejects it, and only
the approved (or edited) text is posted."""

from __future__ import annotations

from typing import Any, TypedDict

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from graphs.toolbox import Toolbox, thread_id

SYSTEM_PROMPT = (
    "You write short, clear Slack messages for a team. Reply with the message text only: "
    "no preamble, no quotes, no @-mentions of groups."
)


class DraftState(TypedDict, total=False):
    request: str
    requester: str
    channel: str
    draft: str
    decision: dict[str, Any]
    report: str


def build(toolbox: Toolbox) -> StateGraph:
    """Draft a Slack message; post it once a person approves or edits it."""

    def write(state: DraftState) -> DraftState:
        reply = toolbox.llm.invoke([SystemMessage(SYSTEM_PROMPT), HumanMessage(state["request"])])
        return {"draft": str(reply.content).strip()}

    def review(state: DraftState) -> DraftState:
        # Nothing before interrupt() has side effects: this node re-runs from its start on resume.
        decision = interrupt({"kind": "draft", "draft": state["draft"]})
        return {"decision": dict(decision)}

    def finalize(state: DraftState, config: RunnableConfig) -> DraftState:
        decision = state["decision"]
        if decision.get("type") not in ("approve", "edit"):
            reason = decision.get("reason")
            why = f": {reason}" if reason else ""
            return {"report": f"Rejected{why}. Nothing was posted."}
        text = decision.get("text") if decision["type"] == "edit" else state["draft"]
        channel = state["channel"]
        outcome = toolbox.effects.once(
            f"{thread_id(config)}:post",
            lambda: toolbox.actions.run("post_message", {"channel": channel, "text": text or ""}),
        )
        edited = " (edited)" if decision["type"] == "edit" else ""
        return {"report": f"Approved{edited}. {outcome}"}

    graph = StateGraph(DraftState)
    graph.add_node("write", write)
    graph.add_node("review", review)
    graph.add_node("finalize", finalize)
    graph.add_edge(START, "write")
    graph.add_edge("write", "review")
    graph.add_edge("review", "finalize")
    graph.add_edge("finalize", END)
    return graph
