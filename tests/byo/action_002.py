"""Planner, approval gate, executor, responder, with a static breakpoint in front of a gate that
also calls interrupt(): the shape of tutorial 002 (written for these tests).

The gate expects ``{"decision", "feedback", "modified_parameters"}``; the executor runs the
modified parameters when there are any.
"""

from typing import Literal, TypedDict

from effects import record
from langchain_openai import ChatOpenAI
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field


class ProposedAction(TypedDict):
    action_type: str
    description: str
    parameters: dict
    risk_level: Literal["low", "medium", "high"]


class AgentState(TypedDict):
    user_request: str
    proposed_action: ProposedAction | None
    approval_status: str | None
    human_feedback: str | None
    modified_parameters: dict | None
    final_result: str | None
    error: str | None


class ActionProposal(BaseModel):
    action_type: str = Field(description="send_email or write_file")
    description: str = Field(description="What will happen")
    parameters: dict = Field(description="The action's parameters")
    risk_level: str = Field(description="low, medium or high")


planner = ChatOpenAI(model="gpt-4o", timeout=10).with_structured_output(
    ActionProposal, method="function_calling"
)


def planner_node(state: AgentState) -> dict:
    proposal = planner.invoke(state["user_request"])
    return {"proposed_action": proposal.model_dump(), "approval_status": "pending"}


def approval_gate_node(state: AgentState) -> dict:
    action = state["proposed_action"]
    if action["risk_level"] == "low":
        return {"approval_status": "approved"}
    answer = interrupt(
        {
            "type": "approval_request",
            "proposed_action": action,
            "message": f"Agent wants to: {action['description']}. Approve?",
        }
    )
    return {
        "approval_status": answer.get("decision", "rejected"),
        "human_feedback": answer.get("feedback", ""),
        "modified_parameters": answer.get("modified_parameters"),
    }


def executor_node(state: AgentState) -> dict:
    if state["approval_status"] != "approved":
        return {"final_result": f"Action cancelled. Reason: {state.get('human_feedback')}"}
    params = state.get("modified_parameters") or state["proposed_action"]["parameters"]
    record("002", params)
    return {"final_result": f"Email sent to {params.get('to')} about {params.get('subject')}"}


def responder_node(state: AgentState) -> dict:
    return {}


def build_graph():
    graph = StateGraph(AgentState)
    graph.add_node("planner", planner_node)
    graph.add_node("approval_gate", approval_gate_node)
    graph.add_node("executor", executor_node)
    graph.add_node("responder", responder_node)
    graph.set_entry_point("planner")
    graph.add_edge("planner", "approval_gate")
    graph.add_edge("approval_gate", "executor")
    graph.add_edge("executor", "responder")
    graph.add_edge("responder", END)
    return graph.compile(checkpointer=MemorySaver(), interrupt_before=["approval_gate"])
