"""API principals from the environment: each token bound to one Slack user, mistakes named by
variable, and the old shared API_TOKEN refused unless it is bound to one identity."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.config.principals import Principal, Principals

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "OPENAI_API_KEY": "sk-1"}
T1, T2, T3 = "t" * 16 + "1", "t" * 16 + "2", "t" * 16 + "3"


def _principals(**env: str) -> tuple[Principal, ...]:
    return load_settings({**BASE, **env}).api_principals


def test_each_token_is_one_principal_bound_to_one_user():
    found = _principals(API_TOKENS=f" deploy:{T1}:U0DEPLOY , desk:{T2}:U0DESK:on_behalf ")
    assert found == (Principal("deploy", "U0DEPLOY"), Principal("desk", "U0DESK", True))
    tokens = Principals(found)
    assert tokens.holder(T1) == Principal("deploy", "U0DEPLOY")
    assert tokens.holder(T2).on_behalf and tokens.holder(T3) is None
    assert tokens.holder(T1 + " ") is None and tokens.holder(T1[:-1]) is None
    assert T1 not in repr(found) and T2 not in repr(load_settings({**BASE, "API_TOKENS": ""}))


def test_only_an_on_behalf_principal_acts_for_someone_else():
    deploy, desk = Principal("deploy", "U0DEPLOY"), Principal("desk", "U0DESK", True)
    assert deploy.acts_as(None) == deploy.acts_as("U0DEPLOY") == "U0DEPLOY"
    assert deploy.acts_as("U0ALICE") is None
    assert desk.acts_as(None) == "U0DESK" and desk.acts_as("U0ALICE") == "U0ALICE"


def test_a_file_of_principals_yaml_or_json(tmp_path: Path):
    yaml_file = tmp_path / "tokens.yaml"
    yaml_file.write_text(
        f"deploy: {{token: {T1}, user: U0DEPLOY}}\ndesk:\n  token: {T2}\n"
        "  user: U0DESK\n  on_behalf: true\n"
    )
    found = _principals(API_TOKENS_FILE=str(yaml_file), API_TOKENS=f"ci:{T3}:U0CI")
    assert {p.name: (p.user, p.on_behalf) for p in found} == {
        "ci": ("U0CI", False),
        "deploy": ("U0DEPLOY", False),
        "desk": ("U0DESK", True),
    }
    json_file = tmp_path / "tokens.json"
    json_file.write_text(json.dumps({"deploy": {"token": T1, "user": "U0DEPLOY"}}))
    assert _principals(API_TOKENS_FILE=str(json_file)) == (Principal("deploy", "U0DEPLOY"),)


def test_the_old_shared_token_is_accepted_only_bound_to_one_user():
    with pytest.raises(ConfigError, match=r"^API_TOKEN: .*API_TOKEN_USER=U….*API_TOKENS="):
        _principals(API_TOKEN=T1)
    assert _principals(API_TOKEN=T1, API_TOKEN_USER="U0CI") == (Principal("api", "U0CI"),)
    with pytest.raises(ConfigError, match="^API_TOKEN_USER: 'bob' is not a Slack user id"):
        _principals(API_TOKEN=T1, API_TOKEN_USER="bob")
    with pytest.raises(ConfigError, match="^API_TOKEN_USER is set but API_TOKEN is not"):
        _principals(API_TOKEN_USER="U0CI")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"API_TOKENS": f"deploy:{T1}"}, "API_TOKENS entry 1: expected name:token:U…"),
        ({"API_TOKENS": f"deploy:{T1}:U0D:always"}, "API_TOKENS entry 1: expected"),
        ({"API_TOKENS": "deploy:short:U0D"}, "API_TOKENS entry 1: the token of 'deploy'"),
        ({"API_TOKENS": f"deploy:{T1}:S0GROUP"}, "API_TOKENS entry 1: 'S0GROUP' is not a Slack"),
        ({"API_TOKENS": f"deploy:{T1}:U0D\n"}, None),  # surrounding space is trimmed
        ({"API_TOKENS": f"a b:{T1}:U0D"}, "API_TOKENS entry 1: name 'a b'"),
        ({"API_TOKENS": f"x:{T1}:U0A,x:{T2}:U0B"}, "API_TOKENS: two tokens are named 'x'"),
        ({"API_TOKENS": f"x:{T1}:U0A,y:{T1}:U0B"}, "API_TOKENS: 'y' has the same token"),
        (
            {"API_TOKENS": f"api:{T1}:U0A", "API_TOKEN": T2, "API_TOKEN_USER": "U0B"},
            "API_TOKENS: two tokens are named 'api'",
        ),
        ({"API_TOKENS_FILE": "/nonexistent/tokens.yaml"}, "API_TOKENS_FILE: cannot read"),
    ],
)
def test_mistakes_are_named_by_variable(env, message):
    if message is None:
        assert _principals(**env) == (Principal("deploy", "U0D"),)
        return
    with pytest.raises(ConfigError, match=f"^{message}"):
        _principals(**env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[1, 2]", "must map each principal's name to its token"),
        (f"deploy: {{token: {T1}, user: U0D, onbehalf: true}}", "deploy: unknown key"),
        (f"deploy: {{token: {T1}, user: U0D, on_behalf: yes please}}", "on_behalf must be"),
        (f"deploy: {{token: {T1}}}", "'' is not a Slack user id"),
        ("deploy: [", "is not valid YAML or JSON"),
    ],
)
def test_a_bad_file_is_named(tmp_path: Path, text, message):
    path = tmp_path / "tokens.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match="^API_TOKENS_FILE: ") as raised:
        _principals(API_TOKENS_FILE=str(path))
    assert message in str(raised.value)
