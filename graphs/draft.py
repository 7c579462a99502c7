"""``draft``: the model drafts a Slack message, a person approves, edits, rejects it or asks for
changes (the model writes it again with their notes, up to ``ROUNDS`` drafts in all), and only
the approved (or edited) text is posted."""

from __future__ import annotations

from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from typing_extensions import TypedDict  # pydantic reads it for LangGraph Server's schemas

from graphs.toolbox import Toolbox, thread_id, toolbox_for

SYSTEM_PROMPT = (
    "You write short, clear Slack messages for a team. Reply with the message text only: "
    "no preamble, no quotes, no @-mentions of groups."
)
ROUNDS = 3  # drafts a reviewer may see: "Request changes" is offered on all but the last


class DraftState(TypedDict, total=False):
    request: str
    requester: str
    channel: str
    draft: str
    round: int
    feedback: str
    decision: dict[str, Any]
    report: str


def build(toolbox: Toolbox | RunnableConfig | None = None) -> StateGraph:
    """Draft a Slack message; post it once a person approves or edits it."""
    toolbox = toolbox_for(toolbox)  # a LangGraph Server passes its config

    def write(state: DraftState) -> DraftState:
        messages: list[BaseMessage] = [SystemMessage(SYSTEM_PROMPT), HumanMessage(state["request"])]
        if state.get("feedback"):  # a reviewer asked for changes to the previous draft
            messages.append(AIMessage(state["draft"]))
            ask = f"Rewrite it following this feedback: {state['feedback']}"
            messages.append(HumanMessage(ask))
        reply = toolbox.llm.invoke(messages)
        return {"draft": str(reply.content).strip(), "round": state.get("round", 0) + 1}

    def review(state: DraftState) -> DraftState:
        # Nothing before interrupt() has side effects: this node re-runs from its start on resume.
        value = {"kind": "draft", "draft": state["draft"], "round": state.get("round", 1)}
        decision = dict(interrupt({**value, "rounds": ROUNDS}))
        if decision.get("type") == "revise":
            return {"decision": decision, "feedback": str(decision.get("message") or "")}
        return {"decision": decision}

    def revise_or_finish(state: DraftState) -> str:
        wants = state["decision"].get("type") == "revise"
        return "write" if wants and state.get("round", 1) < ROUNDS else "finalize"

    def finalize(state: DraftState, config: RunnableConfig) -> DraftState:
        decision = state["decision"]
        if decision.get("type") == "revise":
            return {"report": f"Changes were asked for after {ROUNDS} drafts. Nothing was posted."}
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
    graph.add_conditional_edges("review", revise_or_finish, ["write", "finalize"])
    graph.add_edge("finalize", END)
    return graph
