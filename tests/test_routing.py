"""``bot.core.routing``: where a request's cards go, key by key the most specific section's
(stage > action > graph > defaults > the run's channel), and who gets a copy in their DMs."""

from __future__ import annotations

from bot.core.routing import Destination, destination, dm_people
from bot.domain.signoff import SignOff, Stage
from bot.policy.derive import signoffs_from
from bot.policy.shape import validate

EMAIL = {"kind": "action", "action_type": "send_email"}
WEBHOOK = {"kind": "action", "action_type": "call_webhook"}


def signoffs(policy: dict):
    return signoffs_from(validate(policy, "policy.yaml"), "policy.yaml", Stage())


def test_the_most_specific_section_that_writes_a_key_wins():
    policy = {
        "defaults": {"channel": "C0DEF", "deliver": ["channel", "dm"]},
        "graphs": {"action": {"channel": "C0GRAPH"}, "draft": {}},
        "actions": {
            "send_email": {"channel": "C0MAIL", "deliver": "channel"},
            "call_webhook": {"stages": [{"approvers": ["U0A"], "channel": "C0STAGE"}]},
        },
    }
    found = signoffs(policy)

    def where(graph: str, value: dict) -> tuple[str | None, tuple[str, ...]]:
        stage = found.for_request(graph, value).stages[0]
        return stage.channel, stage.deliver

    assert where("action", EMAIL) == ("C0MAIL", ("channel",))  # the action's own
    assert where("action", WEBHOOK) == ("C0STAGE", ("channel", "dm"))  # its stage's
    post = {"kind": "action", "action_type": "post_message"}
    assert where("action", post) == ("C0GRAPH", ("channel", "dm"))  # no section: the graph's
    assert where("draft", {}) == ("C0DEF", ("channel", "dm"))  # the defaults'
    assert where("other", {}) == ("C0DEF", ("channel", "dm"))


def test_an_actions_section_without_a_channel_takes_its_graphs_not_the_defaults():
    policy = {
        "defaults": {"channel": "C0DEF"},
        "graphs": {"action": {"channel": "C0GRAPH"}},
        "actions": {"send_email": {"approvers": ["U0A"]}},
    }
    assert signoffs(policy).for_request("action", EMAIL).stages[0].channel == "C0GRAPH"


def test_a_stage_of_a_sequence_keeps_its_own_channel_and_the_others_the_sections():
    policy = {
        "graphs": {
            "draft": {
                "channel": "C0FIN",
                "stages": [{"approvers": ["U0A"]}, {"approvers": ["U0B"], "channel": "C0CFO"}],
            }
        }
    }
    stages = signoffs(policy).for_request("draft", {}).stages
    assert [s.channel for s in stages] == ["C0FIN", "C0CFO"]


def test_nothing_written_leaves_the_run_channel_and_a_channel_card():
    stage = signoffs({}).for_request("draft", {}).stages[0]
    assert destination(stage, "C0RUN") == Destination("C0RUN", dm=False)
    assert not Destination(None, dm=False).routed


def test_a_route_survives_the_requests_stored_sign_off():
    sign_off = SignOff((Stage(approvers=("S0K",), channel="C0FIN", deliver=("dm",)),))
    assert SignOff.from_dict(sign_off.to_dict()) == sign_off
    old = SignOff.from_dict({"stages": [{"approvers": ["U0A"], "quorum": 1}]})  # before routes
    assert destination(old.stages[0], "C0RUN") == Destination("C0RUN", dm=False)


def test_dm_only_and_both():
    dm = Stage(approvers=("U0A",), deliver=("dm",), channel="C0FIN")
    assert destination(dm, "C0RUN") == Destination(None, dm=True)
    both = Stage(approvers=("U0A",), deliver=("channel", "dm"))
    assert destination(both, "C0RUN") == Destination("C0RUN", dm=True)


def test_a_copy_goes_to_each_person_who_may_decide():
    keys = Stage(approvers=("S0KEYS", "U0REQ"))
    members = frozenset({"U0B", "U0A", "U0REQ"})
    assert dm_people(keys, "U0REQ", members) == ["U0A", "U0B"]  # never to the requester…
    mine = Stage(approvers=("S0KEYS",), allow_self=True)
    assert dm_people(mine, "U0REQ", members) == ["U0A", "U0B", "U0REQ"]  # …unless allowed
    assert dm_people(Stage(), "U0REQ", None) == ["U0REQ"]  # nobody listed: the requester decides
    assert dm_people(keys, "U0REQ", None) == []  # the group could not be resolved


def test_an_escalation_channel_must_be_an_id_too():
    from bot.config import ConfigError

    policy = {"actions": {"send_email": {"escalation": [{"after": "1h", "channel": "#ops"}]}}}
    try:
        validate(policy, "policy.yaml")
    except ConfigError as exc:
        assert str(exc).startswith(
            "POLICY_FILE: policy.yaml: actions.send_email.escalation[0].channel must be a Slack "
            "channel id like C0123ABCD; '#ops' is not one"
        )
    else:
        raise AssertionError("an escalation channel name was accepted")
