"""``bot.policy.names``: the names a policy file uses, checked against what the graphs have."""

from __future__ import annotations

import pytest

from bot.agents.registry import GraphNames
from bot.config import ConfigError
from bot.policy.names import check_names
from bot.policy.shape import validate

ACTION = GraphNames(
    nodes=frozenset({"plan", "gate", "execute", "respond"}),
    actions=frozenset({"send_email", "post_message"}),
)
AGENT = GraphNames(
    nodes=frozenset({"model", "tools", "HumanInTheLoopMiddleware.after_model"}),
    gated=frozenset({"issue_refund"}),
    tools=frozenset({"issue_refund", "lookup_order"}),
)
ORDERS = GraphNames(nodes=frozenset({"safety_check", "finalize"}))
KNOWN = {"action": ACTION, "agent": AGENT, "orders": ORDERS}


def refused(data: dict, known=KNOWN) -> str:
    with pytest.raises(ConfigError) as info:
        check_names(validate(data, "policy.yaml"), "policy.yaml", known)
    return str(info.value)


def test_what_the_graphs_have_passes_and_nothing_is_left_unchecked():
    data = {
        "graphs": {"orders": {"stages": [{"at": "safety_check"}, {"at": "finalize"}]}},
        "actions": {
            "send_email": {"stages": [{"name": "A", "at": "gate"}]},
            "issue_refund": {"quorum": 2},
        },
        "defaults": {"stages": [{"at": "finalize"}]},
    }
    assert check_names(validate(data, "policy.yaml"), "policy.yaml", KNOWN) == []


def test_an_action_nobody_has_is_named_with_the_closest_one():
    assert refused({"actions": {"send_emial": {}}}) == (
        "POLICY_FILE: policy.yaml: actions.send_emial: no registered graph has an action or "
        "tool called send_emial; did you mean send_email? (known: issue_refund, post_message, "
        "send_email)"
    )


def test_a_tool_no_middleware_gates_is_said_to_be_one():
    assert refused({"actions": {"lookup_order": {"quorum": 2}}}) == (
        "POLICY_FILE: policy.yaml: actions.lookup_order: lookup_order is a tool of agent that "
        "no HumanInTheLoopMiddleware gates, so no request is ever about it (known: "
        "issue_refund, post_message, send_email)"
    )


def test_a_graph_langgraph_json_does_not_register():
    assert refused({"graphs": {"order": {}}}) == (
        "POLICY_FILE: policy.yaml: graphs.order: LANGGRAPH_CONFIG registers no graph called "
        "order; did you mean orders? (known: action, agent, orders)"
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"graphs": {"orders": {"stages": [{"at": "safety_check"}, {"at": "finalise"}]}}},
            "graphs.orders.stages[1].at: no node called finalise in graph orders; did you mean "
            "finalize? (known: finalize, safety_check)",
        ),
        (
            # `finalize` is a node, but not of a graph that has send_email.
            {"actions": {"send_email": {"stages": [{"at": "finalize"}]}}},
            "actions.send_email.stages[0].at: no node called finalize in the graphs with "
            "send_email (action) (known: execute, gate, plan, respond)",
        ),
        (
            {"defaults": {"stages": [{"at": "tool"}]}},
            "defaults.stages[0].at: no node called tool in any registered graph; did you mean "
            "tools?",
        ),
    ],
)
def test_a_stage_at_a_node_the_graph_does_not_have(data, message):
    assert refused(data).startswith(f"POLICY_FILE: policy.yaml: {message}")


def test_graphs_on_a_server_leave_what_depends_on_them_unchecked_and_say_so():
    known = {"orders": ORDERS, "remote": None}
    data = {
        "graphs": {"remote": {"stages": [{"at": "anything"}]}},
        "actions": {"whatever": {}},
        "defaults": {"stages": [{"at": "anywhere"}]},
    }
    assert check_names(validate(data, "policy.yaml"), "policy.yaml", known) == [
        "graphs.remote.stages: `at` (the graph runs on a LangGraph Server)",
        "actions (graphs on a LangGraph Server: remote)",
        "defaults.stages: `at` (graphs on a LangGraph Server)",
    ]
    # A graph name is still checked: the server said which graphs it serves.
    assert "LANGGRAPH_CONFIG registers no graph called remot;" in refused(
        {"graphs": {"remot": {}}}, known
    )
