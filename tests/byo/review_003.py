"""An analysis reviewed after it runs (``interrupt_after``), whose reviewer's fields are written
with update_state and may send it back for revision: the shape of tutorial 003 (written for
these tests)."""

import operator
from typing import Annotated, Literal, TypedDict

from effects import record
from langgraph.checkpoint.memory import MemorySaver
from langgraph.graph import END, StateGraph


class MedicalReviewState(TypedDict):
    patient_id: str
    drug_name: str
    dose_recommendation: str
    risk_flags: Annotated[list[str], operator.add]
    pharmacist_decision: str
    pharmacist_notes: str
    final_order: str
    audit_log: Annotated[list[str], operator.add]


def analyze_drug(state: MedicalReviewState) -> dict:
    notes = state.get("pharmacist_notes") or ""
    revision = sum(1 for line in state.get("audit_log") or [] if line.startswith("analysis"))
    dose = f"Dosing for {state['drug_name']}, version {revision + 1}"
    if notes:
        dose += f" (revised for: {notes})"
    return {
        "dose_recommendation": dose,
        "risk_flags": ["check interactions"],
        "audit_log": [f"analysis {revision + 1}"],
    }


def apply_pharmacist_decision(state: MedicalReviewState) -> dict:
    decision = state.get("pharmacist_decision", "")
    if decision == "approved":
        order = f"APPROVED: {state['dose_recommendation']}"
        record("003", order)
    elif decision == "rejected":
        order = f"REJECTED by pharmacist: {state.get('pharmacist_notes') or 'no reason given'}"
    else:
        order = f"PENDING REVISION: {state.get('pharmacist_notes', '')}"
    return {"final_order": order, "audit_log": [f"decision {decision}"]}


def route_after_review(state: MedicalReviewState) -> Literal["apply_decision", "analyze_drug"]:
    if state.get("pharmacist_decision") == "needs_revision":
        return "analyze_drug"
    return "apply_decision"


builder = StateGraph(MedicalReviewState)
builder.add_node("analyze_drug", analyze_drug)
builder.add_node("apply_decision", apply_pharmacist_decision)
builder.set_entry_point("analyze_drug")
builder.add_conditional_edges(
    "analyze_drug",
    route_after_review,
    {"apply_decision": "apply_decision", "analyze_drug": "analyze_drug"},
)
builder.add_edge("apply_decision", END)
app = builder.compile(checkpointer=MemorySaver(), interrupt_after=["analyze_drug"])
