"""``bot.policy.shape``: every section and key the policy file may hold, and nothing else."""

from __future__ import annotations

import pytest

from bot.config import ConfigError
from bot.policy.shape import check_shape


def refused(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        check_shape(data, "policy.yaml")
    return str(info.value)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"default": {}},
            "default: unknown section; did you mean defaults? (known: defaults, graphs, actions)",
        ),
        ({"rules": {}}, "rules: unknown section (known: defaults, graphs, actions)"),
        ({"defaults": {"remindafter": "1h"}}, "defaults.remindafter: unknown key; did you mean "),
        ({"actions": {"send_email": {"quorom": 2}}}, "actions.send_email.quorom: unknown key; "),
        ({"graphs": {"draft": {"descripton": "x"}}}, "graphs.draft.descripton: unknown key; did"),
        (
            {"actions": {"send_email": {"resume": {"approve": 1}}}},
            "actions.send_email.resume: resume is a graph's setting: it belongs under graphs.",
        ),
        (
            {"defaults": {"input": "text"}},
            "defaults.input: input is a graph's setting: it belongs under graphs.<name>",
        ),
        (
            {"graphs": {"g": {"stages": [{"name": "A"}, {"name": "B", "aprovers": ["U01"]}]}}},
            "graphs.g.stages[1].aprovers: unknown stage key; did you mean approvers? (known: ",
        ),
        (
            {"actions": {"a": {"escalation": [{"after": "1h", "chanel": "C01"}]}}},
            "actions.a.escalation[0].chanel: unknown escalation key; did you mean channel?",
        ),
        (
            {"graphs": {"g": {"buttons": {"revise": {"lable": "Request changes"}}}}},
            "graphs.g.buttons.revise.lable: unknown button key; did you mean label? (known: label",
        ),
        ({"actions": ["send_email"]}, "actions: must map each action name to its section"),
        ({"graphs": {"draft": "quorum 2"}}, "graphs.draft: must be a mapping of keys to values"),
    ],
)
def test_an_unknown_section_or_key_is_named_with_the_closest_known_one(data, message):
    assert refused(data).startswith(f"POLICY_FILE: policy.yaml: {message}")


def test_every_documented_key_is_known():
    check_shape(
        {
            "defaults": {"approvers": ["S01"], "remind_after": "1h", "stages": None},
            "graphs": {
                "g": {
                    "description": "d",
                    "input": "i",
                    "output": "o",
                    "edit": "a.b",
                    "breakpoints": "ask",
                    "ask_twice": False,
                    "resume": {"approve": 1},
                    "update": {},
                    "buttons": {"revise": {"label": "L", "asks": ["notes"], "rounds": 3}},
                    "approvers": ["U01"],
                    "allow_self_approval": False,
                    "quorum": 1,
                    "rejections": 1,
                    "distinct": True,
                    "channel": "C0GRAPH",
                    "deliver": "dm",
                    "stages": [
                        {
                            "name": "A",
                            "approvers": ["U01"],
                            "allow_self_approval": False,
                            "quorum": 1,
                            "rejections": 1,
                            "at": "n",
                            "channel": "C0STAGE",
                            "deliver": ["channel", "dm"],
                        }
                    ],
                    "remind_after": "1h",
                    "expire_after": "2h",
                    "expire_as": "reject",
                    "escalation": [
                        {"after": "1h", "to": ["U01"], "channel": "C01", "repeat": 1, "every": "5m"}
                    ],
                }
            },
            "actions": {"send_email": None, "post_message": {}},
        },
        "policy.yaml",
    )
