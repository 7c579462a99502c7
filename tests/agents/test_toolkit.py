"""What the shipped graphs' toolbox is built from (bot.agents.toolkit): the model from the
``OPENAI_*`` settings (with a timeout, so a hung model never holds a worker), a stand-in that
names the missing key, and the actions with the bot's own Slack post."""

from __future__ import annotations

import pytest

from bot.agents.no_model import NoModel
from bot.agents.toolkit import make_actions, make_llm
from bot.config import ConfigError, load_settings


def _settings(**env: str):
    return load_settings(
        {"SLACK_BOT_TOKEN": "xoxb-t", "SLACK_SIGNING_SECRET": "s", "DATABASE_URL": "sqlite:///x.db"}
        | env
    )


def test_the_model_is_the_configured_openai_compatible_server_with_a_timeout():
    llm = make_llm(
        _settings(
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL="http://127.0.0.1:9/v1",
            OPENAI_MODEL="tiny-model",
            OPENAI_TIMEOUT="7",
        )
    )
    assert llm.model_name == "tiny-model"
    assert llm.openai_api_base == "http://127.0.0.1:9/v1"
    assert llm.request_timeout == 7
    assert llm.openai_api_key.get_secret_value() == "sk-test"


def test_without_a_key_the_model_is_a_stand_in_that_names_it_when_used():
    llm = make_llm(_settings())
    assert isinstance(llm, NoModel)
    with pytest.raises(ConfigError, match="OPENAI_API_KEY is not set"):
        llm.invoke("hello")


def test_post_message_posts_through_the_function_given():
    posted: list[tuple[str, str]] = []

    def post(channel: str, text: str) -> str:
        posted.append((channel, text))
        return f"Posted to {channel}"

    actions = make_actions(_settings(), post)
    spec = actions.get("post_message")
    assert spec is not None
    assert actions.validate("post_message", {"channel": "C0OUT", "text": "hi"}) == {}
    assert spec.run({"channel": "C0OUT", "text": "hi"}) == "Posted to C0OUT"
    assert posted == [("C0OUT", "hi")]
    assert "action_type" in actions.validate("launch_rockets", {})
