"""What every bench part runs against: the fake Slack and OpenAI servers, a new PostgreSQL
database, and the real bot (``python -m bot``) started on them."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.support.botproc import BotProcess
from tests.support.databases import ADMIN_URL, fresh_postgres, postgres_available
from tests.support.slack_requests import SIGNING_SECRET
from tests.support.tls import Certificate, self_signed


class BenchError(RuntimeError):
    """The bench could not do, or could not verify, what it measured: exit non-zero."""


@dataclass
class Fakes:
    slack: FakeSlack
    openai: FakeOpenAI
    certificate: Certificate | None = None  # Slack's, when it is served over HTTPS


@contextmanager
def fakes(tls: bool = False) -> Iterator[Fakes]:
    """``tls``: Slack's API over HTTPS, as slack.com's is, with a self-signed certificate that
    the bot, and this process's in-process bots, are told to trust (``SSL_CERT_FILE``)."""
    with tempfile.TemporaryDirectory(prefix="bench-cert-") as tmp:
        certificate = self_signed(Path(tmp)) if tls else None
        context = certificate.server_context() if certificate else None
        before = os.environ.get("SSL_CERT_FILE")
        if certificate is not None:
            os.environ["SSL_CERT_FILE"] = str(certificate.cert)
        try:
            with FakeSlack(tls=context) as slack, FakeOpenAI() as openai:
                yield Fakes(slack, openai, certificate)
        finally:
            if certificate is not None and before is None:
                os.environ.pop("SSL_CERT_FILE", None)
            elif certificate is not None and before is not None:
                os.environ["SSL_CERT_FILE"] = before


@contextmanager
def postgres() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server, dropped afterwards."""
    if not postgres_available():
        raise BenchError(f"PostgreSQL is not reachable at {ADMIN_URL} (set TEST_POSTGRES_URL)")
    with fresh_postgres() as url:
        yield url


def bot_env(fakes: Fakes, database_url: str, **extra: str) -> dict[str, str]:
    if fakes.certificate is not None:
        extra = {"SSL_CERT_FILE": str(fakes.certificate.cert), **extra}
    return {
        "SLACK_BOT_TOKEN": fakes.slack.bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fakes.slack.api_url,
        "OPENAI_API_KEY": "sk-bench",
        "OPENAI_BASE_URL": fakes.openai.base_url,
        "OPENAI_TIMEOUT": "10",
        "DATABASE_URL": database_url,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


@contextmanager
def running_bot(fakes: Fakes, database_url: str, workdir: Path, **env: str) -> Iterator[BotProcess]:
    """The real bot on ``database_url``; its log is kept in ``workdir``."""
    log = workdir / f"bot-{len(os.listdir(workdir))}.log"
    bot = BotProcess(bot_env(fakes, database_url, **env), log, fakes.slack, prefork=False)
    bot.start()
    try:
        yield bot
    finally:
        bot.stop()
