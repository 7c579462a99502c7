"""Per-graph settings: parsed and checked once, and filled in with a reviewer's decision."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from bot.agents import graph_settings
from bot.agents.graph_settings import GraphSettings, substitute, template_for
from bot.config import ConfigError
from bot.domain.models import Decision
from bot.domain.review import Choice
from bot.policy.derive import settings_from
from bot.policy.file import read_policy
from bot.policy.shape import validate

WHERE = "policy.yaml: graphs.orders"


def parse_settings(body: dict, where: str) -> GraphSettings:
    """One graph's settings, as the bot reads them from a file holding only that graph."""
    path, graph = where.split(": graphs.")
    return settings_from(validate({"graphs": {graph: body}}, path))[graph]


def load_graph_settings(path: str | None) -> dict[str, GraphSettings]:
    return settings_from(read_policy(path))


def test_no_settings_is_the_defaults():
    assert parse_settings({}, WHERE) == GraphSettings()
    assert GraphSettings().breakpoints == "ask"


def test_the_documented_example_parses():
    doc = graph_settings.__doc__ or ""
    example = doc.split("::", 1)[1].split("Placeholders:", 1)[0]
    settings = load_example(example)
    assert settings == GraphSettings(
        description="Review a drug order",
        input="drug_name",
        output="final_order",
        breakpoints="ask",
        ask_twice=False,
        edit="proposed_action.parameters",
        resume={"approve": "approved", "reject": "rejected: {reason}"},
        update={
            "approve": {"pharmacist_decision": "approved", "pharmacist_notes": "{notes}"},
            "revise": {"pharmacist_decision": "needs_revision", "pharmacist_notes": "{notes}"},
        },
        buttons=(Choice("revise", "Request changes", ("notes",), 3),),
    )


def load_example(example: str) -> GraphSettings:
    body = yaml.safe_load(textwrap.dedent(example))["graphs"]["orders"]
    return parse_settings(body, WHERE)


def test_buttons_get_a_label_and_asks():
    settings = parse_settings(
        {
            "resume": {"hold": "hold", "send_back": {"why": "{reason}"}},
            "update": {"long": None},
            "buttons": {
                "hold": None,
                "send_back": {"asks": "reason"},
                "long": {"label": "L" * 100, "asks": ["notes", "reason"]},
            },
        },
        WHERE,
    )
    assert settings.buttons == (
        Choice("hold", "Hold", ()),
        Choice("send_back", "Send back", ("reason",)),
        Choice("long", "L" * 75, ("notes", "reason")),
    )


def test_skip_and_ask_twice():
    settings = parse_settings({"breakpoints": "skip", "ask_twice": True}, WHERE)
    assert (settings.breakpoints, settings.ask_twice) == ("skip", True)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"description": 3}, "description must be a string"),
        ({"input": ["a"]}, "input must be a string"),
        ({"output": {"a": 1}}, "output must be a string"),
        ({"edit": True}, "edit must be a string"),
        ({"breakpoints": "never"}, "breakpoints must be ask or skip"),
        ({"breakpoints": None}, "breakpoints must be ask or skip"),
        ({"ask_twice": "no"}, "ask_twice must be true or false"),
        ({"resume": ["approved"]}, "resume must map button names to values"),
        ({"update": "approved"}, "update must map button names to values"),
        (
            {"update": {"approve": "approved"}},
            "each update must be a mapping of state keys to values",
        ),
        ({"buttons": ["revise"]}, "buttons must map button names to a label and asks"),
        ({"buttons": "revise"}, "buttons must map button names to a label and asks"),
        (
            {"resume": {"revise": 1}, "buttons": {"revise": "Request changes"}},
            "buttons.revise must be a mapping",
        ),
        (
            {"resume": {"approve": 1}, "buttons": {"approve": {"label": "OK"}}},
            "buttons.approve: approve is a built-in button; map it in resume or update",
        ),
        (
            {"buttons": {"revise": {"label": "Request changes"}}},
            "buttons.revise needs a resume or update entry saying what it does",
        ),
        (
            {"resume": {"revise": 1}, "buttons": {"revise": {"asks": ["mood"]}}},
            "buttons.revise.asks may hold notes, reason",
        ),
        (
            {"resume": {"revise": 1}, "buttons": {"revise": {"asks": 5}}},
            "buttons.revise.asks may hold notes, reason",
        ),
        (
            {"resume": {"revise": 1}, "buttons": {"revise": {"rounds": "3"}}},
            "buttons.revise.rounds must be a whole number",
        ),
        (
            {"resume": {"revise": 1}, "buttons": {"revise": {"rounds": 1}}},
            "buttons.revise.rounds must be 2 or more (round 1 is the first card)",
        ),
    ],
)
def test_a_mistake_names_the_policy_file_and_the_place(body, problem):
    with pytest.raises(ConfigError) as info:
        parse_settings(body, WHERE)
    assert str(info.value) == f"POLICY_FILE: {WHERE}: {problem}"


@pytest.mark.parametrize("name", ["approve", "edit", "respond", "reject", "ignore", "answer"])
def test_every_built_in_choice_is_refused_as_an_extra_button(name):
    with pytest.raises(ConfigError, match=f"buttons.{name}: {name} is a built-in button"):
        parse_settings({"resume": {name: 1}, "buttons": {name: {}}}, WHERE)


def test_settings_load_by_graph_from_the_policy_file(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text(
        textwrap.dedent(
            """
            defaults: {expire_after: 1h}
            graphs:
              gate:
                input: user_request
                resume: {approve: approved}
              quiet:
              reminders_only: {remind_after: 10m}
            """
        )
    )
    loaded = load_graph_settings(str(path))
    assert loaded == {
        "gate": GraphSettings(input="user_request", resume={"approve": "approved"}),
        "quiet": GraphSettings(),
        "reminders_only": GraphSettings(),
    }


def test_a_mistake_in_the_file_names_the_file_and_graph(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text("graphs:\n  gate:\n    breakpoints: sometimes\n")
    with pytest.raises(ConfigError) as info:
        load_graph_settings(str(path))
    assert str(info.value) == (f"POLICY_FILE: {path}: graphs.gate: breakpoints must be ask or skip")


def test_graphs_must_be_a_mapping(tmp_path: Path):
    path = tmp_path / "policy.yaml"
    path.write_text("graphs: [gate]\n")
    with pytest.raises(ConfigError) as info:
        load_graph_settings(str(path))
    assert str(info.value) == (
        f"POLICY_FILE: {path}: graphs: must map each graph name to its section"
    )


def test_no_policy_file_is_no_settings(tmp_path: Path):
    assert load_graph_settings(None) == {}
    (tmp_path / "p.yaml").write_text("defaults: {expire_after: 1h}\n")
    assert load_graph_settings(str(tmp_path / "p.yaml")) == {}


def test_an_unreadable_policy_file_names_policy_file(tmp_path: Path):
    with pytest.raises(ConfigError, match="POLICY_FILE: cannot read"):
        load_graph_settings(str(tmp_path / "missing.yaml"))


# template_for -----------------------------------------------------------------------------
def test_template_for_finds_the_decisions_own_entry():
    mapping = {"approve": "yes", "reject": None}
    assert template_for(mapping, Decision("approve", "U1")) == (True, "yes")
    assert template_for(mapping, Decision("reject", "U1")) == (True, None)
    assert template_for(mapping, Decision("edit", "U1")) == (False, None)
    assert template_for({}, Decision("approve", "U1")) == (False, None)


def test_an_expiry_looks_for_expire_then_its_policys_choice():
    late = Decision("expire", "scheduler", expire_as="approve")
    assert template_for({"approve": "yes", "expire": "late"}, late) == (True, "late")
    assert template_for({"approve": "yes", "reject": "no"}, late) == (True, "yes")
    assert template_for({"reject": "no"}, Decision("expire", "scheduler")) == (True, "no")
    assert template_for({"approve": "yes"}, Decision("expire", "scheduler")) == (False, None)


# substitute -------------------------------------------------------------------------------
EDIT = Decision("edit", "U1", parameters={"to": "a@b.co", "count": 3, "tags": ["x"]}, reason="typo")


def test_a_whole_placeholder_is_the_value_itself():
    assert substitute("{values}", EDIT) == {"to": "a@b.co", "count": 3, "tags": ["x"]}
    assert substitute("{values.count}", EDIT) == 3
    assert substitute("{values.tags}", EDIT) == ["x"]
    assert substitute("{by}", EDIT) == "U1"


def test_placeholders_inside_text_are_replaced_as_text():
    assert substitute("rejected: {reason}", EDIT) == "rejected: typo"
    assert substitute("{by} sent {values.count} to {values.to}", EDIT) == "U1 sent 3 to a@b.co"


def test_a_missing_value_is_empty_and_an_unknown_placeholder_stays():
    assert substitute("{values.missing}", EDIT) == ""
    assert substitute("to {values.missing}!", EDIT) == "to !"
    assert substitute("{unknown}", EDIT) == "{unknown}"
    assert substitute("a {unknown} b", EDIT) == "a {unknown} b"


def test_text_that_only_looks_like_placeholders_is_kept():
    assert substitute('{"json": 1}', EDIT) == '{"json": 1}'
    assert substitute("{Reason}", EDIT) == "{Reason}"
    assert substitute("{}", EDIT) == "{}"


def test_notes_message_and_text():
    revise = Decision("revise", "U1", message="halve the dose")
    assert substitute("{notes}|{message}|{text}|{reason}", revise) == (
        "halve the dose|halve the dose|halve the dose|"
    )
    edited_draft = Decision("edit", "U1", text="new draft", message="m")
    assert substitute("{text}", edited_draft) == "new draft"
    assert substitute("{notes}|{values}", Decision("approve", "U1")) == "|{}"
    assert substitute("{values}", Decision("approve", "U1")) == {}


def test_mappings_and_lists_are_filled_throughout():
    template = {
        "decision": "approved",
        "by": "{by}",
        "changes": "{values}",
        "nested": [{"to": "{values.to}"}, "n={values.count}", 7, None, True],
    }
    assert substitute(template, EDIT) == {
        "decision": "approved",
        "by": "U1",
        "changes": {"to": "a@b.co", "count": 3, "tags": ["x"]},
        "nested": [{"to": "a@b.co"}, "n=3", 7, None, True],
    }


@pytest.mark.parametrize("template", [None, 3, 2.5, True, False])
def test_other_values_pass_through(template):
    assert substitute(template, EDIT) == template


def test_an_expiry_reason_fills_reason():
    late = Decision("expire", "scheduler", reason="nobody answered in 2h")
    assert substitute({"feedback": "{reason}", "by": "{by}"}, late) == {
        "feedback": "nobody answered in 2h",
        "by": "scheduler",
    }
