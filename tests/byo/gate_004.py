"""Plan, then a one-word approval gate: the shape of tutorial 004 (written for these tests).

The gate expects the resume value ``"approved"``; anything else is treated as a rejection and
reported as it came (``"rejected: <reason>"``). The graph is compiled with its own in-memory
checkpointer, which the bot replaces with its own.
"""

from typing import TypedDict

from effects import record
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

llm = ChatOpenAI(model="gpt-4o-mini", timeout=10)


class WorkflowState(TypedDict):
    user_request: str
    plan: str
    human_decision: str
    result: str


def plan_node(state: WorkflowState) -> dict:
    return {"plan": llm.invoke(f"Plan: {state['user_request']}").content}


def approval_gate(state: WorkflowState) -> dict:
    answer = interrupt(
        {"message": "Approve this plan?", "plan": state["plan"], "request": state["user_request"]}
    )
    return {"human_decision": answer}


def execute_node(state: WorkflowState) -> dict:
    if state["human_decision"] != "approved":
        return {"result": f"Run rejected by reviewer. Reason: {state['human_decision']}"}
    record("004", state["plan"])
    return {"result": f"Executed: {state['plan']}"}


builder = StateGraph(WorkflowState)
builder.add_node("plan", plan_node)
builder.add_node("approval_gate", approval_gate)
builder.add_node("execute", execute_node)
builder.add_edge(START, "plan")
builder.add_edge("plan", "approval_gate")
builder.add_edge("approval_gate", "execute")
builder.add_edge("execute", END)
graph = builder.compile(checkpointer=MemorySaver())
