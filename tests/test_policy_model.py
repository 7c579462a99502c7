"""``bot.policy.model``: the policy file as one pydantic model, read once, refused in one line."""

from __future__ import annotations

import pytest

from bot.agents.graph_settings import GraphSettings
from bot.agents.registry import RegisteredGraph
from bot.config import ConfigError
from bot.domain.timeline import Policy
from bot.policy import file as policy_file_module
from bot.policy import model
from bot.policy.derive import policies_from
from bot.policy.file import Defaults, load_checked
from bot.policy.shape import validate


def refused(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        validate(data, "policy.yaml")
    return str(info.value)


def test_every_mapping_of_the_file_forbids_keys_it_does_not_declare():
    for entry in (model.PolicyModel, model.Section, model.GraphSection, model.StageEntry):
        assert entry.model_config.get("extra") == "forbid"
    for entry in (model.LevelEntry, model.ButtonEntry):
        assert entry.model_config.get("extra") == "forbid"


def test_a_misplaced_key_is_reported_before_a_bad_value_beside_it():
    said = refused({"graphs": {"draft": {"quorum": 0, "quorom": 2}}})
    assert said.startswith("POLICY_FILE: policy.yaml: graphs.draft.quorom: unknown key; did you")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"graphs": {"draft": {"quorum": None}}}, "graphs.draft.quorum must be a whole number"),
        ({"actions": {"a": {"approvers": None}}}, "actions.a.approvers must be a list of user"),
        ({"defaults": {"distinct": None}}, "defaults.distinct must be true or false"),
        ({"actions": {"a": {"expire_as": None}}}, "actions.a.expire_as must be reject or approve"),
        (
            {"graphs": {"g": {"stages": [{"rejections": None}]}}},
            "graphs.g.stages[0].rejections must be a whole number",
        ),
    ],
)
def test_a_key_left_empty_is_a_mistake_not_the_default(data, message):
    assert refused(data).startswith(f"POLICY_FILE: policy.yaml: {message}")


def test_off_is_written_and_overrides_while_a_key_left_out_inherits():
    data = {"defaults": {"remind_after": "1h"}, "graphs": {"quiet": {"remind_after": "off"}}}
    policies = policies_from(validate({**data, "actions": {"a": {}}}, "p"), Policy(None, None))
    assert policies.graphs["quiet"].remind_after is None
    assert policies.actions["a"].remind_after == 3600


def test_the_file_is_read_once_for_settings_names_sign_offs_and_timelines(tmp_path, monkeypatch):
    path = tmp_path / "policy.yaml"
    path.write_text("defaults: {expire_after: 1h}\ngraphs:\n  draft: {input: text}\n")
    reads: list[str] = []
    real = policy_file_module.parse
    monkeypatch.setattr(policy_file_module, "parse", lambda t: reads.append(t) or real(t))
    remote = RegisteredGraph("draft", None, "", GraphSettings(), "request", {})  # names unknown
    policy, _ = load_checked(str(path), Defaults(), lambda settings: {"draft": remote})
    assert len(reads) == 1
    assert policy.graph_settings["draft"].input == "text"
    assert policy.policies.graphs["draft"].expire_after == 3600


def test_of_several_misplaced_keys_the_first_a_reader_meets_is_reported():
    data = {"graphs": {"g": {"stages": [{"nam": "A"}], "quorom": 2}}, "default": {}}
    assert refused(data).startswith("POLICY_FILE: policy.yaml: default: unknown section")
    del data["default"]
    assert refused(data).startswith("POLICY_FILE: policy.yaml: graphs.g.quorom: unknown key")
    data["graphs"] = {"g": {"stages": [{"nam": "A"}]}, "h": {"quorom": 2}}
    assert refused(data).startswith("POLICY_FILE: policy.yaml: graphs.g.stages[0].nam: unknown")


def test_the_model_gives_a_json_schema():
    schema = model.PolicyModel.model_json_schema()
    assert set(schema["properties"]) == {"defaults", "graphs", "actions"}
    assert schema["additionalProperties"] is False
