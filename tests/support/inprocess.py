"""The bot's parts built in this process (no HTTP), with a clock the test moves."""

from __future__ import annotations

from pathlib import Path

from bot.config import load_settings
from bot.runtime.worker import InlineWorker
from bot.wiring import Deps, build_deps


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def inprocess_deps(
    fake_slack, fake_openai, database_url: str, clock: Clock, policy: Path | None = None, **env: str
) -> Deps:
    settings = load_settings(
        {
            "SLACK_BOT_TOKEN": fake_slack.bot_token,
            "SLACK_SIGNING_SECRET": "s",
            "SLACK_API_URL": fake_slack.api_url,
            "OPENAI_API_KEY": "sk-test",
            "OPENAI_BASE_URL": fake_openai.base_url,
            "DATABASE_URL": database_url,
            **({"POLICY_FILE": str(policy)} if policy else {}),
            **env,
        }
    )
    return build_deps(settings, clock=clock, worker=InlineWorker())
