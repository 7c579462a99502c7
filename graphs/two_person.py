"""``two_person``: a message that needs two keys. The model drafts it, the graph fans out to two
sign-off nodes with ``Send`` (two cards, each decided on its own, by different people), and a
join posts the message once, only when both approved it."""

from __future__ import annotations

import operator
from typing import Annotated, Any

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send, interrupt
from typing_extensions import TypedDict  # pydantic reads it for LangGraph Server's schemas

from graphs.draft import SYSTEM_PROMPT
from graphs.toolbox import Toolbox, thread_id, toolbox_for

KEYS = 2


class TwoPersonState(TypedDict, total=False):
    request: str
    requester: str
    channel: str
    draft: str
    signatures: Annotated[list[dict[str, Any]], operator.add]
    report: str


class KeyState(TypedDict):
    key: int
    draft: str
    channel: str


def build(toolbox: Toolbox | RunnableConfig | None = None) -> StateGraph:
    """Draft a Slack message that two different people must approve before it is posted."""
    toolbox = toolbox_for(toolbox)  # a LangGraph Server passes its config

    def write(state: TwoPersonState) -> TwoPersonState:
        reply = toolbox.llm.invoke([SystemMessage(SYSTEM_PROMPT), HumanMessage(state["request"])])
        return {"draft": str(reply.content).strip()}

    def fan_out(state: TwoPersonState) -> list[Send]:
        key = {"draft": state["draft"], "channel": state["channel"]}
        return [Send("sign", {**key, "key": n}) for n in range(1, KEYS + 1)]

    def sign(state: KeyState) -> TwoPersonState:
        # Each key is its own interrupt: its own card, its own decision.
        answer = interrupt(
            {
                "kind": "action",
                "action_type": "post_message",
                "description": f"Key {state['key']} of {KEYS}: both keys are needed to post.",
                "parameters": {"channel": state["channel"], "text": state["draft"]},
                "risk_level": "high",
                "choices": ["approve", "reject"],
            }
        )
        return {"signatures": [{"key": state["key"], **dict(answer)}]}

    def join(state: TwoPersonState, config: RunnableConfig) -> TwoPersonState:
        signatures = sorted(state.get("signatures") or [], key=lambda s: s["key"])
        refused = [str(s["key"]) for s in signatures if s.get("type") != "approve"]
        if refused:
            return {"report": f"Not posted: key {' and '.join(refused)} was not given."}
        signers = {s.get("by") for s in signatures}
        if len(signatures) < KEYS or len(signers) < KEYS:
            return {"report": "Not posted: it needs two different people's approval."}
        outcome = toolbox.effects.once(
            f"{thread_id(config)}:post",
            lambda: toolbox.actions.run(
                "post_message", {"channel": state["channel"], "text": state["draft"]}
            ),
        )
        return {"report": f"Both keys given. {outcome}"}

    graph = StateGraph(TwoPersonState)
    graph.add_node("write", write)
    graph.add_node("sign", sign)
    graph.add_node("join", join)
    graph.add_edge(START, "write")
    graph.add_conditional_edges("write", fan_out, ["sign"])
    graph.add_edge("sign", "join")
    graph.add_edge("join", END)
    return graph
