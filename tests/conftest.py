"""Fixtures: the fake Slack and OpenAI servers, fresh databases, and the real bot process."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import FakeWebhook
from tests.support.botproc import BotProcess
from tests.support.databases import fresh_postgres
from tests.support.slack_requests import SIGNING_SECRET

# Timing-sensitive tests run alone under pytest-xdist; the run order keeps workers busy.
# Unit tests' fixtures (tests/support/units.py): ``db`` on both databases, ``clock``.
pytest_plugins = [
    "tests.support.alone",
    "tests.support.dns",
    "tests.support.groups",
    "tests.support.inprocess_bot",
    "tests.support.units",
]


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    with FakeSlack() as slack:
        yield slack


@pytest.fixture(scope="session")
def openai_server() -> Iterator[FakeOpenAI]:
    """One fake OpenAI per test process: the bot's model client for its address is built once
    (langchain-openai keeps it), instead of once for each test's new port."""
    with FakeOpenAI() as openai:
        yield openai


@pytest.fixture
def fake_openai(openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """The fake OpenAI with nothing queued, nothing heard and no latency, for each test."""
    openai_server.reset()
    yield openai_server
    openai_server.reset()


@pytest.fixture
def fake_smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as smtp:
        yield smtp


@pytest.fixture
def fake_webhook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as webhook:
        yield webhook


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with fresh_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'bot.db'}"
    else:
        with fresh_postgres() as url:
            yield url


@pytest.fixture
def bot_env(fake_slack: FakeSlack, fake_openai: FakeOpenAI, database_url: str) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": fake_slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": fake_openai.base_url,
        "OPENAI_TIMEOUT": "10",
        "DATABASE_URL": database_url,
        "SCHEDULER_TICK": "1",
        "LOG_LEVEL": "INFO",
    }


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Each phase's report kept on the test (``rep_call``…), so fixtures can see it failed."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def start_bot(
    request: pytest.FixtureRequest,
    bot_env: dict[str, str],
    tmp_path: Path,
    fake_slack: FakeSlack,
) -> Iterator[Callable[..., BotProcess]]:
    started: list[BotProcess] = []

    def start(*, wait: bool = True, **overrides: str) -> BotProcess:
        """``wait=False``: return at once (Socket Mode serves no /healthz to wait on)."""
        env = {**bot_env, **overrides}
        bot = BotProcess(env, tmp_path / f"bot{len(started)}.log", fake_slack)
        started.append(bot)
        return bot.start(wait=wait)

    yield start
    for bot in started:
        bot.stop()
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:  # shown with the failure: what each bot logged
        for bot in started:
            print(f"--- {bot.log_path.name}: warnings and errors ---\n{bot.problems()}")
