"""The file's ``remember`` checked against the sign-off it would shorten (bot.policy.remembering),
from the validated file alone (no registry): a section one person signs may remember; one that
needs more than one person may not, and start-up says why, naming the key and whether the rule
was inherited from ``defaults``; an action's section that says nothing of who signs is signed
as its graph's, so every graph's sign-off must allow it; and an action's ``remember`` that a
``distinct`` graph never offers is said, not refused. (Start-up loading a whole file:
tests/test_remember_policy.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from bot.config import ConfigError
from bot.core.remember import Remember
from bot.domain.signoff import Stage
from bot.policy.derive import signoffs_from
from bot.policy.remembering import remembering_from, unoffered
from bot.policy.shape import validate

PATH = "policy.yaml"
ONE_PERSON = (
    "a remembered approval stands in for one person's Approve, and this section's requests "
    "need more than one person"
)


def checked(data: dict[str, Any]):
    model = validate(data, PATH)
    signoffs = signoffs_from(model, PATH, Stage())
    return model, signoffs


def remembered(data: dict[str, Any]):
    model, signoffs = checked(data)
    return remembering_from(model, PATH, signoffs)


def refused(data: dict[str, Any]) -> str:
    with pytest.raises(ConfigError) as info:
        remembered(data)
    return str(info.value)


def test_sections_one_person_signs_remember_shortest_first():
    found = remembered(
        {
            "graphs": {"draft": {"remember": ["8h", "1h"]}},
            "actions": {
                "send_email": {"approvers": ["U0A"], "remember": "1h", "remember_match": ["to"]},
                "wire": {"approvers": ["U0A", "U0B"], "quorum": 2},
            },
        }
    )
    assert found.graphs == {"draft": Remember((3600, 28800))}
    assert found.actions == {"send_email": Remember((3600,), ("to",))}
    assert found.sectioned == frozenset({"send_email", "wire"})


def test_nothing_to_remember_is_nothing_remembered():
    found = remembered({"defaults": {"approvers": ["U0A", "U0B"], "quorum": 2}})
    assert not found.anywhere


@pytest.mark.parametrize(
    ("section", "why"),
    [
        ({"approvers": ["U0A", "U0B"], "quorum": 2}, "quorum: 2"),
        ({"approvers": ["U0A", "U0B"], "rejections": 2}, "rejections: 2"),
        ({"stages": [{"approvers": ["U0A"]}, {"approvers": ["U0B"]}]}, "stages"),
        ({"distinct": True}, "distinct: true"),
    ],
)
def test_a_section_more_than_one_person_signs_may_not_remember(section, why):
    said = refused({"graphs": {"draft": {**section, "remember": "1h"}}})
    assert said == f"POLICY_FILE: {PATH}: graphs.draft.remember: not with {why}: {ONE_PERSON}"


def test_a_rule_inherited_from_defaults_says_so_and_one_of_its_own_does_not():
    inherited = refused(
        {
            "defaults": {"approvers": ["U0A", "U0B"], "quorum": 2},
            "graphs": {"draft": {"remember": "1h"}},
        }
    )
    assert "not with quorum: 2 (inherited from defaults):" in inherited

    own = refused(
        {
            "defaults": {"approvers": ["U0A", "U0B"], "quorum": 2},
            "graphs": {"draft": {"approvers": ["U0A", "U0B"], "quorum": 2, "remember": "1h"}},
        }
    )
    assert "not with quorum: 2:" in own and "inherited" not in own


def test_a_section_that_lowers_what_defaults_ask_may_remember():
    found = remembered(
        {
            "defaults": {"approvers": ["U0A", "U0B"], "quorum": 2},
            "graphs": {"draft": {"quorum": 1, "remember": "1h"}},
        }
    )
    assert "draft" in found.graphs


def test_an_action_that_says_nothing_of_who_signs_is_signed_as_every_graph():
    said = refused(
        {
            "graphs": {"two_person": {"approvers": ["U0A", "U0B"], "quorum": 2}},
            "actions": {"send_email": {"remember": "1h"}},
        }
    )
    assert said.startswith(f"POLICY_FILE: {PATH}: actions.send_email.remember: ")
    assert "this section says nothing of who signs" in said
    assert "graphs.two_person is signed with quorum: 2" in said
    assert said.endswith("write approvers here to remember its approvals")


def test_an_action_signed_as_its_graph_is_refused_for_the_defaults_first():
    said = refused(
        {
            "defaults": {"distinct": True},
            "graphs": {"draft": {"approvers": ["U0A", "U0B"], "quorum": 2}},
            "actions": {"send_email": {"remember": "1h"}},
        }
    )
    assert "and defaults is signed with distinct: true" in said


def test_an_action_signed_as_graphs_one_person_signs_may_remember():
    found = remembered(
        {
            "graphs": {"draft": {"approvers": ["U0A"]}},
            "actions": {"send_email": {"remember": "1h"}},
        }
    )
    assert found.actions == {"send_email": Remember((3600,))}


def test_an_action_that_names_its_own_approvers_is_not_signed_as_a_graph():
    found = remembered(
        {
            "graphs": {"two_person": {"approvers": ["U0A", "U0B"], "quorum": 2}},
            "actions": {"send_email": {"approvers": ["U0A"], "remember": "1h"}},
        }
    )
    assert "send_email" in found.actions


# never offered, said rather than refused -------------------------------------------------------
def test_an_action_remembered_in_a_distinct_graphs_runs_is_said_never_offered():
    model, signoffs = checked(
        {
            "graphs": {"review": {"distinct": True}},
            "actions": {"send_email": {"approvers": ["U0A"], "remember": "1h"}},
        }
    )
    assert unoffered(model, signoffs) == [
        "actions.send_email.remember: not offered in the runs of graphs.review (distinct: "
        "true: nobody signs two requests of one of its runs, and a remembered approval would "
        "sign one)"
    ]


def test_distinct_defaults_are_named_first():
    data = {
        "defaults": {"distinct": True},
        "graphs": {"review": {"distinct": True}},
        "actions": {"send_email": {"approvers": ["U0A"], "remember": "1h"}},
    }
    [said] = unoffered(*checked(data))
    assert "in the runs of defaults, graphs.review (" in said


def test_without_a_distinct_section_or_anything_remembered_nothing_is_said():
    assert unoffered(*checked({"actions": {"send_email": {"remember": "1h"}}})) == []
    assert unoffered(*checked({"graphs": {"review": {"distinct": True}}})) == []
