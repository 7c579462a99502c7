"""``action``: a planner proposes one action from the registry; low-risk actions run at once
(only ``check_url`` of a URL on ``WEBHOOK_ALLOWLIST`` can be low), medium and high wait for a
person; the executor runs the approved (or edited) call once; the responder reports the
outcome."""

from __future__ import annotations

import json
from typing import Any, Literal

from langchain_core.messages import HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field
from typing_extensions import TypedDict  # pydantic reads it for LangGraph Server's schemas

from graphs.actions import ActionSpec
from graphs.toolbox import Toolbox, thread_id, toolbox_for


class Parameter(BaseModel):
    name: str = Field(description="The parameter's name, as the action lists it")
    value: str = Field(description="The parameter's value")


class ActionProposal(BaseModel):
    # OpenAI's strict structured outputs refuse free-form objects (every object needs
    # additionalProperties: false), so parameters are name/value pairs, not a dict.
    action_type: str = Field(description="One of the available action names")
    description: str = Field(description="What will happen, in one sentence, for a reviewer")
    parameters: list[Parameter] = Field(description="The action's parameters")
    risk_level: Literal["low", "medium", "high"] = Field(
        description="low = read-only, medium = creates or sends inside the team, "
        "high = sends externally, modifies or deletes"
    )


class ActionState(TypedDict, total=False):
    request: str
    requester: str
    channel: str
    proposal: dict[str, Any]
    decision: dict[str, Any]
    result: str
    report: str


def _planner_prompt(toolbox: Toolbox) -> str:
    lines = ["You plan exactly one action for the user's request. Available actions:"]
    for spec in toolbox.actions.specs.values():
        params = ", ".join(p.name for p in spec.params)
        lines.append(f"- {spec.name}({params}): {spec.description}")
    lines.append("Use only these action names and parameter names.")
    return "\n".join(lines)


def form_fields(spec: ActionSpec) -> list[dict[str, Any]]:
    """The action's parameters as the bot's form fields (name, label, kind, required)."""
    return [
        {
            "name": p.name,
            "label": p.label,
            "kind": "multiline" if p.kind == "text" and p.multiline else p.kind,
            "required": p.required,
        }
        for p in spec.params
    ]


def build(toolbox: Toolbox | RunnableConfig | None = None) -> StateGraph:
    """Plan one action (post, email, webhook, URL check) and run it once a person approves."""
    toolbox = toolbox_for(toolbox)  # a LangGraph Server passes its config

    def plan(state: ActionState) -> ActionState:
        planner = toolbox.llm.with_structured_output(ActionProposal)
        proposal = planner.invoke(
            [SystemMessage(_planner_prompt(toolbox)), HumanMessage(state["request"])]
        )
        assert isinstance(proposal, ActionProposal)
        action = proposal.model_dump()
        action["parameters"] = {p.name: p.value for p in proposal.parameters}
        # The floor may depend on the call itself (check_url is low only for a listed URL).
        action["risk_level"] = toolbox.actions.risk(
            action["action_type"], action["risk_level"], action["parameters"]
        )
        return {"proposal": action}

    def gate(state: ActionState) -> ActionState:
        action = state["proposal"]
        if toolbox.actions.get(action["action_type"]) is None:
            return {"decision": {"type": "reject", "reason": "the planner chose no known action"}}
        if action["risk_level"] == "low":
            return {"decision": {"type": "approve", "by": "policy (low risk)"}}
        spec = toolbox.actions.specs[action["action_type"]]
        # The card's Edit form comes from this payload: one typed input per parameter.
        decision = interrupt({"kind": "action", **action, "fields": form_fields(spec)})
        return {"decision": dict(decision)}

    def execute(state: ActionState, config: RunnableConfig) -> ActionState:
        decision, action = state["decision"], state["proposal"]
        if decision.get("type") not in ("approve", "edit"):
            reason = decision.get("reason")
            return {"result": f"Not run: rejected{': ' + reason if reason else ''}."}
        edited = decision.get("parameters")
        params = edited if edited is not None else action["parameters"]
        # Actions take text. The Edit form keeps a JSON payload as the text submitted (what
        # the approver read is what is sent); a structure from elsewhere is written as JSON.
        params = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
        name = action["action_type"]
        outcome = toolbox.effects.once(
            f"{thread_id(config)}:execute", lambda: toolbox.actions.run(name, params)
        )
        return {"result": outcome}

    def respond(state: ActionState) -> ActionState:
        edited = " with edited parameters" if state["decision"].get("type") == "edit" else ""
        name = state["proposal"]["action_type"]
        return {"report": f"{name}{edited}: {state['result']}"}

    graph = StateGraph(ActionState)
    graph.add_node("plan", plan)
    graph.add_node("gate", gate)
    graph.add_node("execute", execute)
    graph.add_node("respond", respond)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "gate")
    graph.add_edge("gate", "execute")
    graph.add_edge("execute", "respond")
    graph.add_edge("respond", END)
    return graph
