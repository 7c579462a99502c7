"""An order paused twice, before its safety check and before it is finalized, so that two
different people sign it: the multi-stage shape of tutorial 003 (written for these tests)."""

from typing import TypedDict

from effects import record
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, START, StateGraph


class OrderState(TypedDict, total=False):
    drug_name: str
    draft_order: str
    safety: str
    final_order: str


def draft(state: OrderState) -> dict:
    return {"draft_order": f"Order for {state['drug_name']}"}


def safety_check(state: OrderState) -> dict:
    return {"safety": "no interactions found"}


def finalize(state: OrderState) -> dict:
    order = f"FINAL: {state['draft_order']} ({state['safety']})"
    record("stages", order)
    return {"final_order": order}


builder = StateGraph(OrderState)
builder.add_node("draft", draft)
builder.add_node("safety_check", safety_check)
builder.add_node("finalize", finalize)
builder.add_edge(START, "draft")
builder.add_edge("draft", "safety_check")
builder.add_edge("safety_check", "finalize")
builder.add_edge("finalize", END)
app = builder.compile(checkpointer=MemorySaver(), interrupt_before=["safety_check", "finalize"])
