"""The bot's parts built in this process (no HTTP), with a clock the test moves."""

from __future__ import annotations

from pathlib import Path

from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.jitter import Jitter

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
    return quick_retries(build_deps(settings, clock=clock, worker=InlineWorker()))


def quick_retries(deps: Deps) -> Deps:
    """slack_sdk's own retries of a 5xx or a dropped connection, as many as in production, with
    millisecond waits between them instead of 0.5 s, 1 s, 2 s plus up to a second of jitter
    each (a Retry-After is still obeyed): what is retried and how often is what the tests
    check, not how long slack_sdk sleeps."""
    for handler in deps.slack.client.retry_handlers:
        calculator = getattr(handler, "interval_calculator", None)
        if isinstance(calculator, BackoffRetryIntervalCalculator):
            calculator.backoff_factor = 0.005
            calculator.jitter = _NoJitter()
    return deps


class _NoJitter(Jitter):
    def recalculate(self, duration: float) -> float:
        return duration
