import pytest

from bot.config import ConfigError, Settings, load_settings
from bot.domain.timeline import Level, Policy, env_policy, plan
from bot.policy.derive import policies_from
from bot.policy.file import read_policy


def load_policies(settings: Settings):
    return policies_from(read_policy(settings.policy_file), env_policy(settings))


ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "OPENAI_API_KEY": "k"}


def _policies(tmp_path, text, **env):
    path = tmp_path / "policy.yml"
    path.write_text(text)
    return load_policies(load_settings({**ENV, **env, "POLICY_FILE": str(path)}))


def test_plan_orders_jobs_and_drops_what_falls_after_expiry():
    policy = Policy(60, 600, "reject", (Level(120, ("U1",), repeat=2, every=300),))
    jobs = plan(policy, 1000.0)
    assert [(j.kind, j.due_at, j.round) for j in jobs] == [
        ("remind", 1060.0, 0),
        ("escalate", 1120.0, 0),
        ("escalate", 1420.0, 1),
        ("expire", 1600.0, 0),
    ]
    assert jobs[-1].detail == {"as": "reject", "after": 600}


def test_env_defaults_make_one_escalation_level():
    settings = load_settings({**ENV, "ESCALATE_TO": "S0ONCALL", "ESCALATE_AFTER": "2h"})
    policies = load_policies(settings)
    assert policies.default.levels == (Level(7200, ("S0ONCALL",), None),)
    assert load_policies(load_settings(ENV)).default.levels == ()  # nobody to escalate to


def test_policy_file_overrides_per_graph_and_per_action(tmp_path):
    policies = _policies(
        tmp_path,
        """
defaults: {expire_after: 2d}
graphs:
  draft: {remind_after: 15m}
actions:
  send_email:
    expire_after: 4h
    expire_as: approve
    escalation: [{after: 1h, to: "U01,S02", channel: C9}]
""",
    )
    assert policies.default.expire_after == 172800
    assert policies.for_request("draft", {"kind": "draft"}).remind_after == 900
    email = policies.for_request("action", {"kind": "action", "action_type": "send_email"})
    assert email.expire_after == 14400 and email.expire_as == "approve"
    assert email.levels[0].to == ("U01", "S02") and email.levels[0].channel == "C9"
    assert (
        policies.for_request("action", {"kind": "action", "action_type": "x"}).expire_after
        == 172800
    )
    # A tool gated by LangChain's HITL middleware is an action too, in either mode.
    batched = {"action_requests": [{"name": "lookup"}, {"name": "send_email"}]}
    combined = policies.for_request("mailer", batched)
    assert combined.expire_after == 14400
    # lookup's (the defaults') expiry rejects, so the batch is never approved on expiry.
    assert combined.expire_as == "reject"
    assert combined.levels == email.levels
    per_call = {"type": "tool_approval", "name": "send_email", "args": {}}
    assert policies.for_request("mailer", per_call).expire_as == "approve"
    assert policies.for_request("mailer", {"type": "tool_approval", "name": "x"}).expire_after == (
        172800
    )


def test_a_batch_takes_the_safest_of_its_calls_policies_in_any_order(tmp_path):
    policies = _policies(
        tmp_path,
        """
defaults: {expire_after: 1h, expire_as: approve}
actions:
  lookup_order: {expire_after: 10m, expire_as: approve, remind_after: 5m}
  issue_refund: {expire_after: 2h, expire_as: reject}
""",
    )
    for names in (["lookup_order", "issue_refund"], ["issue_refund", "lookup_order"]):
        batched = {"action_requests": [{"name": n} for n in names]}
        got = policies.for_request("agent", batched)
        assert (got.expire_after, got.expire_as, got.remind_after) == (600, "reject", 300)
    both_approve = {"action_requests": [{"name": "lookup_order"}, {"name": "other"}]}
    assert policies.for_request("agent", both_approve).expire_as == "approve"


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("defaults: {remind_after: soon}", "defaults.remind_after"),
        ("graphs: {draft: {expire_as: maybe}}", "graphs.draft.expire_as"),
        ("actions: {x: {escalation: [{to: [U1]}]}}", "actions.x.escalation[0]"),
        ("defaults: {remindafter: 1h}", "unknown key"),
        ("[1, 2", "not valid YAML"),
    ],
)
def test_policy_file_errors_say_where(tmp_path, text, where):
    with pytest.raises(ConfigError, match="POLICY_FILE") as info:
        _policies(tmp_path, text)
    assert where in str(info.value)
