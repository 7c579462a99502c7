"""``remember`` and ``remember_match`` in the policy file: where they may be written, what they
hold, and that start-up refuses them where a request needs more than one person (naming the
file, the section and the key, like every other policy error)."""

from __future__ import annotations

import io

import pytest
from langgraph.checkpoint.memory import MemorySaver

from bot.agents.registry import load_registry
from bot.cli.try_graph import toolbox_factory
from bot.config import ConfigError
from bot.core.remember import Remember
from bot.policy.file import Defaults, load_checked
from tests.support.policies import policy_file, refusal
from tests.test_policy_file import SHIPPED

ONE_PERSON = "not with {}: a remembered approval stands in for one person's Approve, and this "
ONE_PERSON += "section's requests need more than one person"


def load(path, defaults: Defaults | None = None):
    tools = toolbox_factory({"OPENAI_API_KEY": "sk-test"}, io.StringIO())
    return load_checked(
        str(path),
        defaults or Defaults(),
        lambda settings: load_registry(SHIPPED, MemorySaver(), settings, tools),
    )


REFUSED = [
    pytest.param(
        "actions:\n  send_email: {approvers: [U0A, U0B], quorum: 2, remember: 1h}\n",
        "actions.send_email.remember: " + ONE_PERSON.format("quorum: 2"),
        id="quorum",
    ),
    pytest.param(
        "defaults: {approvers: [U0A, U0B], quorum: 2}\ngraphs:\n  draft: {remember: 8h}\n",
        "graphs.draft.remember: " + ONE_PERSON.format("quorum: 2 (inherited from defaults)"),
        id="inherited-quorum",
    ),
    pytest.param(
        "actions:\n  send_email:\n    remember: 1h\n    stages: [{approvers: [U0A]}, "
        "{approvers: [U0B]}]\n",
        "actions.send_email.remember: " + ONE_PERSON.format("stages"),
        id="stages",
    ),
    pytest.param(
        "graphs:\n  draft: {distinct: true, remember: 1h}\n",
        "graphs.draft.remember: " + ONE_PERSON.format("distinct: true"),
        id="distinct",
    ),
    pytest.param(
        "actions:\n  send_email: {approvers: [U0A, U0B], rejections: 2, remember: 1h}\n",
        "actions.send_email.remember: " + ONE_PERSON.format("rejections: 2"),
        id="rejections",
    ),
    pytest.param(
        "defaults: {remember: 1h}\n",
        "defaults.remember: belongs under graphs.<name> or actions.<name> (a remembered "
        "approval covers one graph or action, never everything)",
        id="defaults",
    ),
    pytest.param(
        "actions:\n  send_email: {remember_match: [to]}\n",
        "actions.send_email.remember_match: needs remember (how long an approval is remembered)",
        id="match-alone",
    ),
    pytest.param(
        "actions:\n  send_email: {remember: forever}\n",
        "actions.send_email.remember: 'forever' is not a duration (use 90, 90s, 15m, 4h or 2d)",
        id="not-a-duration",
    ),
    pytest.param(
        "actions:\n  send_email: {remember: 60d}\n",
        "actions.send_email.remember: 60d is out of range (from 1m to 30d)",
        id="too-long",
    ),
    pytest.param(
        "actions:\n  send_email: {remember: [1h, 60m]}\n",
        "actions.send_email.remember: 60m is listed twice",
        id="twice",
    ),
    pytest.param(
        "actions:\n  send_email: {remember: 1h, remember_match: to}\n",
        None,
        id="one-name-is-a-list-of-one",
    ),
    pytest.param(
        "actions:\n  send_email: {remember: 1h, remember_match: [[to]]}\n",
        "actions.send_email.remember_match must be a list of argument names, such as [to]",
        id="bad-names",
    ),
]


@pytest.mark.parametrize(("text", "said"), REFUSED)
def test_remember_where_more_than_one_person_signs_is_refused_at_start_up(tmp_path, text, said):
    path = policy_file(tmp_path, text)
    if said is None:
        load(path)
        return
    with pytest.raises(ConfigError) as info:
        load(path, Defaults())
    assert str(info.value) == refusal(path, said)


def test_remember_is_read_per_graph_and_action_shortest_first(tmp_path):
    text = (
        "graphs:\n  draft: {remember: 8h}\n"
        "actions:\n  send_email: {remember: [8h, 1h], remember_match: [to]}\n"
        "  call_webhook: {expire_after: 1h}\n"
    )
    policy, _ = load(policy_file(tmp_path, text))
    remembering = policy.remembering
    assert remembering.graphs == {"draft": Remember((28800,))}
    assert remembering.actions == {"send_email": Remember((3600, 28800), ("to",))}
    email = {"kind": "action", "action_type": "send_email", "parameters": {"to": "a@b.co"}}
    hook = {"kind": "action", "action_type": "call_webhook", "parameters": {}}
    assert remembering.for_request("action", email) == Remember((3600, 28800), ("to",))
    # An action with a section of its own is governed by it alone, as its sign-off is.
    assert remembering.for_request("action", hook) is None
    assert remembering.for_request("draft", {"kind": "draft", "text": "hi"}) == Remember((28800,))
    batch = {"action_requests": [{"name": "send_email"}, {"name": "send_email"}]}
    assert remembering.for_request("action", batch) is None  # several calls: never offered


def test_an_action_s_remember_never_offered_in_a_distinct_graph_s_runs_is_said_at_start_up(
    tmp_path, caplog
):
    text = (
        "graphs:\n  action: {distinct: true}\n"
        "actions:\n  send_email: {approvers: [U0BOSS], remember: 8h}\n"
    )
    path = policy_file(tmp_path, text)
    with caplog.at_level("WARNING", logger="bot.policy.file"):
        policy, _ = load(path)
    assert policy.remembering.actions == {"send_email": Remember((28800,))}  # still read
    said = [r.getMessage() for r in caplog.records]
    assert said == [
        f"POLICY_FILE: {path}: actions.send_email.remember: not offered in the runs of "
        "graphs.action (distinct: true: nobody signs two requests of one of its runs, and a "
        "remembered approval would sign one)"
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="bot.policy.file"):
        load(policy_file(tmp_path, "actions:\n  send_email: {approvers: [U0BOSS], remember: 8h}\n"))
    assert caplog.records == []
