"""``bot.policy.file.load_checked``: the one loader of the bot and of ``try``, on real graphs.

The shipped ``langgraph.json`` and ``tests/byo`` are built for real (with a model that is never
called), so the names checked are the ones the graphs actually have."""

from __future__ import annotations

import io
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import MemorySaver

from bot.agents.graph_settings import GraphSettings
from bot.agents.registry import RegisteredGraph, known_names, load_registry
from bot.cli.try_graph import toolbox_factory
from bot.config import ConfigError
from bot.domain.signoff import Stage
from bot.domain.timeline import Policy
from bot.policy.derive import policies_from, settings_from, signoffs_from
from bot.policy.file import Defaults, load_checked, read_policy
from bot.policy.model import PolicyModel
from tests.support.policies import BAD_POLICIES, policy_file, refusal

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "langgraph.json"
BYO = ROOT / "tests" / "byo" / "langgraph.json"


@pytest.fixture
def model_key(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The bring-your-own graphs build their ChatOpenAI client when their module is imported,
    pointed at no fake here (nothing calls it). Forget those modules afterwards, so that a later
    test in this process (tests/test_try_cli.py) imports them afresh, with its own fake."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        where = getattr(sys.modules[name], "__file__", None) or ""
        if name.startswith("_registered_graph_") or Path(where).is_relative_to(BYO.parent):
            del sys.modules[name]


def load(path: Path | None, config: Path = SHIPPED, defaults: Defaults | None = None):
    tools = toolbox_factory({"OPENAI_API_KEY": "sk-test"}, io.StringIO())
    return load_checked(
        str(path) if path else None,
        defaults or Defaults(),
        lambda settings: load_registry(config, MemorySaver(), settings, tools),
    )


@pytest.mark.parametrize(("text", "said"), BAD_POLICIES)
def test_a_mistake_a_new_user_makes_stops_the_loader_naming_file_section_and_key(
    tmp_path, text, said
):
    path = policy_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load(path)
    assert str(info.value) == refusal(path, said)


def test_a_misspelt_action_is_reported_even_with_approvers_that_make_its_quorum_reachable(
    tmp_path,
):
    path = policy_file(tmp_path, "actions:\n  send_emial: {quorum: 2}\n")
    with pytest.raises(ConfigError, match="actions.send_emial: no registered graph has"):
        load(path, defaults=Defaults(approvers=("U0A", "U0B")))


def test_a_quorum_is_judged_with_the_environments_approvers(tmp_path):
    path = policy_file(tmp_path, "graphs:\n  draft: {quorum: 2}\n")
    with pytest.raises(ConfigError, match="graphs.draft: a quorum of 2 needs an approvers list"):
        load(path)
    policy, _ = load(path, defaults=Defaults(approvers=("U0A", "U0B")))
    assert policy.signoffs.graphs["draft"].base == Stage(approvers=("U0A", "U0B"), quorum=2)


def test_the_shipped_policy_file_loads_and_is_what_the_bot_uses():
    policy, registry = load(ROOT / "policy.yaml")
    assert set(registry) == {"draft", "action", "two_person"}
    assert policy.signoffs.graphs["two_person"].distinct


def test_the_shipped_policy_files_examples_load_once_uncommented(tmp_path):
    lines = (ROOT / "policy.yaml").read_text().splitlines()
    examples = lines[
        lines.index("# Examples (uncomment and put your own user ids U… and user-group ids S…):")
        + 1 :
    ]
    text = "\n".join(line.removeprefix("#").removeprefix(" ") for line in examples)
    policy, _ = load(policy_file(tmp_path, text))
    assert policy.signoffs.actions["send_email"].base.quorum == 2
    assert len(policy.signoffs.actions["call_webhook"].stages) == 2


def test_no_policy_file_is_the_environments_defaults():
    policy, _ = load(None, defaults=Defaults(approvers=("S0LEADS",)))
    assert policy.model == PolicyModel() and policy.graph_settings == {}
    assert policy.signoffs.default.base == Stage(approvers=("S0LEADS",))


def test_the_bring_your_own_policy_file_loads_on_its_graphs(model_key):
    policy, registry = load(BYO.parent / "policy.yaml", BYO)
    assert policy.graph_settings["act"].edit == "proposed_action.parameters"
    assert set(policy.graph_settings) <= set(registry)


def test_the_tools_a_middleware_gates_count_as_actions_in_either_mode(model_key, tmp_path):
    _, registry = load(None, BYO)
    names = known_names(registry)
    assert names["mailer"] and names["mailer"].gated == {"send_email"}
    assert names["mailer_each"] and names["mailer_each"].gated == {"send_email"}
    assert names["poster"] and names["poster"].gated == {"post"}
    assert names["gate"] and names["gate"].gated == frozenset()
    path = policy_file(tmp_path, "actions:\n  send_email: {expire_after: 1h}\n  post: {}\n")
    load(path, BYO)
    path = policy_file(tmp_path, "actions:\n  post_message: {}\n")
    with pytest.raises(ConfigError, match="actions.post_message: no registered graph has"):
        load(path, BYO)  # the action registry is the shipped graphs': none here takes it


def test_the_shipped_action_registry_counts_only_for_graphs_built_with_it():
    _, registry = load(None)
    names = known_names(registry)
    actions = {"send_email", "post_message", "call_webhook", "check_url"}
    assert names["action"] and names["action"].actions == actions
    assert names["action"].nodes == {"plan", "gate", "execute", "respond"}


def test_a_graph_on_a_server_leaves_its_names_unchecked_and_the_log_says_so(tmp_path, caplog):
    path = policy_file(tmp_path, "actions:\n  anything: {expire_after: 1h}\n")
    remote = RegisteredGraph("remote", None, "", GraphSettings(), "request", {})
    with caplog.at_level("WARNING", logger="bot.policy.file"):
        policy, _ = load_checked(str(path), Defaults(), lambda _: {"remote": remote})
    assert policy.policies.actions["anything"].expire_after == 3600
    assert f"POLICY_FILE: {path}: not checked: actions (graphs on a LangGraph Server: remote)" in (
        caplog.text
    )


def readme_examples() -> list[str]:
    """Every YAML block of the README; the fragments under `graphs:` made whole again."""
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```yaml\n(.*?)```", text, flags=re.S)
    return [f"graphs:\n{b}" if b.startswith("  ") else b for b in blocks]


@pytest.mark.parametrize("example", readme_examples())
def test_the_readmes_examples_are_valid_policy_files(tmp_path, example):
    """Their graph and action names are the reader's own (refund, orders, wire_transfer), so
    only what does not depend on the registry is checked here."""
    path = str(policy_file(tmp_path, textwrap.dedent(example)))
    model = read_policy(path)
    settings_from(model)
    signoffs_from(model, path, Stage(approvers=("U0A", "U0B")))
    policies_from(model, Policy(None, None))


@pytest.mark.parametrize(
    "text",
    [
        "actions:\n  send_email:\n    approvers: [U0FIN]\n    quorum: 2\n"
        "  send_email:\n    remind_after: 1h\n",
        "actions:\n  send_email:\n    approvers: [U0FIN]\n    approvers: []\n",
    ],
    ids=["section-twice", "key-twice"],
)
def test_a_key_written_twice_is_refused_not_the_last_one_kept(tmp_path, text):
    # YAML alone keeps the last: the second send_email would drop the first one's approvers.
    path = policy_file(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        read_policy(str(path))
    said = str(info.value)
    assert said.startswith(f"POLICY_FILE: {path} is not valid YAML:")
    assert "appears twice in one mapping" in said and "line " in said


@pytest.mark.parametrize("off", ["off", "no", '"off"', "never"])
def test_off_written_bare_turns_a_timer_off_as_the_error_for_0_says_to_write_it(tmp_path, off):
    """YAML reads a bare ``off`` (or ``no``) as false: the file's own hint ("write off for
    none") must work as written."""
    path = policy_file(tmp_path, f"actions:\n  x: {{expire_after: {off}, remind_after: {off}}}\n")
    remote = RegisteredGraph("remote", None, "", GraphSettings(), "request", {})  # names unknown
    policy, _ = load_checked(str(path), Defaults(), lambda _: {"remote": remote})
    assert policy.policies.actions["x"].expire_after is None
    assert policy.policies.actions["x"].remind_after is None


@pytest.mark.parametrize(
    "email", ["{expire_after: 4h}", "{channel: C0FINANCE}", "", "{remind_after: 1h}"]
)
def test_an_action_section_that_says_nothing_of_who_signs_keeps_its_graphs_signers(tmp_path, email):
    """The operator asked two leads to sign every action of the `action` graph and wrote only a
    timer (or a channel) for send_email: the email is still theirs to sign, two of them, not the
    requester's alone (as the defaults, with APPROVERS unset, would have it)."""
    path = policy_file(
        tmp_path,
        "graphs:\n  action: {approvers: [U0LEADA, U0LEADB], quorum: 2}\n"
        f"actions:\n  send_email: {email}\n",
    )
    policy, _ = load(path)
    value = {"kind": "action", "action_type": "send_email", "parameters": {}}
    [stage] = policy.signoffs.for_request("action", value).stages
    assert (stage.approvers, stage.quorum) == (("U0LEADA", "U0LEADB"), 2)
    if "channel" in email:
        assert stage.channel == "C0FINANCE"  # where its cards go is still the action's


def test_remember_in_an_action_section_signed_as_its_graph_is_held_to_the_graph_s_sign_off(
    tmp_path,
):
    path = policy_file(
        tmp_path,
        "graphs:\n  action: {approvers: [U0LEADA, U0LEADB], quorum: 2}\n"
        "actions:\n  send_email: {remember: 1h}\n",
    )
    with pytest.raises(ConfigError) as info:
        load(path)
    said = str(info.value)
    assert "actions.send_email.remember" in said and "graphs.action" in said, said
    assert "write approvers here" in said


@pytest.mark.parametrize("email", ["{remind_after: 1h}", "{channel: C0FINANCE}"])
def test_two_calls_of_an_action_signed_as_its_graph_need_the_graphs_stages_once(tmp_path, email):
    path = policy_file(
        tmp_path,
        "graphs:\n  action:\n    approvers: [U0LEADA, U0LEADB]\n"
        "    stages: [{name: Lead, approvers: [U0LEADA]}, {name: Head, approvers: [U0LEADB]}]\n"
        f"actions:\n  send_email: {email}\n",
    )
    policy, _ = load(path)
    call = {"name": "send_email", "args": {}}
    one = policy.signoffs.for_request("action", {"action_requests": [call]})
    two = policy.signoffs.for_request("action", {"action_requests": [call, call]})
    assert [s.name for s in one.stages] == ["Lead", "Head"]
    assert ([s.name for s in two.stages], two.joint) == (["Lead", "Head"], False)
    if "channel" in email:
        assert {s.channel for s in two.stages} == {"C0FINANCE"}
