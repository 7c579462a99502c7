"""What the shipped graphs' toolbox is built from (bot.agents.toolkit): the model from the
``OPENAI_*`` settings (each request bounded as a whole by ``OPENAI_TIMEOUT``, so a hung or
trickling model never holds a worker), a stand-in that names the missing key, and the actions
with the bot's own Slack post."""

from __future__ import annotations

import httpx
import pytest
from openai import APIConnectionError, APITimeoutError

from bot.agents.no_model import NoModel
from bot.agents.toolkit import MODEL_RETRIES, make_actions, make_llm, unreachable_model
from bot.config import ConfigError, load_settings
from tests.fakes.trickle import TrickleServer
from tests.support.bounded import ended_within


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
    assert llm.max_retries == MODEL_RETRIES == 2
    assert llm.openai_api_key.get_secret_value() == "sk-test"


TRIES = 1 + MODEL_RETRIES
BACKOFFS = 0.5 + 1.0  # openai's waits before its second and third tries, at most


def test_openai_timeout_bounds_each_model_request_as_a_whole_and_the_tries_are_few():
    """A byte every 0.3 s keeps every socket read inside httpx's 1 s timeout (the answer would
    take 18 s per try); each request is cut off at 1 s all the same, and tried twice more."""
    with TrickleServer(every=0.3) as model:
        llm = make_llm(
            _settings(
                OPENAI_API_KEY="sk-test",
                OPENAI_BASE_URL=model.base_url + "/v1",
                OPENAI_TIMEOUT="1",
            )
        )
        took, raised = ended_within(TRIES * 1 + BACKOFFS + 3, lambda: llm.invoke("hello"))
        assert isinstance(raised, APITimeoutError), raised
        assert len(model.hits()) == TRIES
    assert TRIES * 1.0 <= took < TRIES * 1 + BACKOFFS + 1.5


def test_a_model_whose_name_does_not_resolve_in_time_is_given_up_on_at_its_timeout(hanging_dns):
    llm = make_llm(
        _settings(
            OPENAI_API_KEY="sk-test",
            OPENAI_BASE_URL="http://model.dns-hangs.test/v1",
            OPENAI_TIMEOUT="1",
        )
    )
    took, raised = ended_within(TRIES * 1 + BACKOFFS + 3, lambda: llm.invoke("hello"))
    assert hanging_dns.is_set()
    assert isinstance(raised, APITimeoutError), raised
    assert took < TRIES * 1 + BACKOFFS + 1.5


def test_model_requests_within_their_deadline_are_answered_as_before(fake_openai):
    llm = make_llm(
        _settings(
            OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake_openai.base_url, OPENAI_TIMEOUT="5"
        )
    )
    assert llm.invoke("Write the note").content == "Draft: Write the note"
    assert llm.invoke("Write it again").content == "Draft: Write it again"


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


def test_a_model_that_was_reached_but_did_not_answer_in_time_is_told_as_a_timeout_not_unreachable():
    """openai's timeout is a kind of connection error; the server was reached (or may have
    been) and was slow: the hint names OPENAI_TIMEOUT, not a wrong OPENAI_BASE_URL."""
    request = httpx.Request("POST", "http://models.internal/v1/chat/completions")
    slow = unreachable_model(APITimeoutError(request=request), "http://models.internal/v1")
    assert "did not answer within OPENAI_TIMEOUT" in slow and "models.internal" in slow
    assert "cannot reach" not in slow
    down = unreachable_model(APIConnectionError(request=request), "http://models.internal/v1")
    assert "cannot reach the model's server at http://models.internal/v1" in down
    assert "OPENAI_BASE_URL" in down
    assert unreachable_model(ValueError("bad args"), None) == ""
