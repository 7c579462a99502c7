"""Each environment variable's value, read and checked: one function a kind of value (a
channel id, Slack ids, a duration, a number of seconds, a flag, a secret, a URL...), each raising
a :class:`ConfigError` that names the variable to fix and never repeats a secret."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from email.utils import getaddresses
from pathlib import Path
from urllib.parse import urlsplit

from bot.config.durations import parse_duration
from bot.config.principals import Principal, read_principals
from graphs.addresses import Allowlist, parse_mail_server

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
SLACK_ID = re.compile(r"^[USW][A-Z0-9]{2,}$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def smtp_url(env: Mapping[str, str]) -> str | None:
    url = env.get("SMTP_URL", "").strip()
    if not url:
        return None
    try:
        parse_mail_server(url)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None  # never the URL: it may hold a password
    return url


# A channel a card or a notice goes to: a public (C…) or private (G…) channel's id, never its
# name (the policy file's ``channel`` takes the same: bot.policy.values).
CHANNEL_ID = re.compile(r"^[CG][A-Z0-9]+$")
# The environment's channels may also be a DM (D…) the bot posts in, as they could before ids
# were checked.
ENV_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]+$")
CHANNEL_HINT = "click the channel's name: the id is at the bottom of its About tab"


def channel(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if value and not ENV_CHANNEL_ID.match(value):
        raise ConfigError(
            f"{name}: {value!r} is not a Slack channel id like C0123ABCD ({CHANNEL_HINT})"
        )
    return value or None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Python's own names besides those (LOG_LEVEL was handed to logging as it was, before).
LOG_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "NOTSET": "NOTSET"}


def log_level(env: Mapping[str, str]) -> str:
    level = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in LOG_LEVELS and level not in LOG_LEVEL_ALIASES:
        raise ConfigError(f"LOG_LEVEL: {level.lower()!r} is not one of {', '.join(LOG_LEVELS)}")
    return LOG_LEVEL_ALIASES.get(level, level)


def ids(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())
    for value in values:
        if not SLACK_ID.match(value):
            raise ConfigError(f"{name}: {value!r} is not a Slack user (U…) or user-group (S…) ID")
    return values


def duration(env: Mapping[str, str], name: str, default: str | None) -> int | None:
    """A timer's delay; ``off`` or ``never``: none. Never 0, as in the policy file: due as soon
    as the card is posted (an expiry nobody could beat), and not "off" by another name."""
    raw = env.get(name, default)
    if raw is None or raw.strip().lower() in ("", "off", "never"):
        return None
    try:
        seconds = parse_duration(raw)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None
    if seconds == 0:
        raise ConfigError(
            f"{name}: 0 would fall due as soon as the card is posted; write off for none"
        )
    return seconds


def _is_number(raw: str) -> bool:
    try:
        float(raw)
    except ValueError:
        return False
    return True


def number(env: Mapping[str, str], name: str, default: str, kind: type = int) -> float:
    raw = env.get(name, default)
    try:
        value = kind(raw)
    except ValueError:
        whole = kind is int and _is_number(raw)
        raise ConfigError(
            f"{name}: must be a whole number, got {raw!r}"
            if whole
            else f"{name}: {raw!r} is not a number"
        ) from None
    if not math.isfinite(value):  # float() takes nan and inf; a timer or deadline cannot
        raise ConfigError(f"{name}: {raw!r} is not a number of seconds")
    if value <= 0:
        raise ConfigError(f"{name}: must be greater than zero, got {raw!r}")
    return value


def seconds_at_least(env: Mapping[str, str], name: str, default: str, least: float) -> float:
    """A number of seconds no smaller than ``least``: below it the setting works against what
    it is for (say why in the README's row)."""
    value = number(env, name, default, float)
    if value < least:
        raise ConfigError(f"{name}: must be at least {least:g} seconds, got {env.get(name)!r}")
    return value


def port(env: Mapping[str, str]) -> int:
    port = int(number(env, "PORT", "3000"))
    if port > 65535:
        raise ConfigError(f"PORT: {port} is not a TCP port (1-65535)")
    return port


def required(env: Mapping[str, str], name: str, hint: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ConfigError(f"{name} is not set: {hint}")
    return value


def secret(env: Mapping[str, str], name: str) -> str | None:
    """A token, key or secret, unset when empty. Its characters must be printable ASCII with
    no space, as every real one's are: a value pasted with the README's ``…`` placeholder (or a
    curly quote) crashed the first HTTP header it went into, naming no variable. The value itself
    is never repeated."""
    value = env.get(name, "").strip()
    if value and not (value.isascii() and value.isprintable() and " " not in value):
        raise ConfigError(
            f"{name}: has characters no token or key has (a placeholder copied as written, a "
            "curly quote, a space?): paste the value itself"
        )
    return value or None


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """LangSmith's own reading of its settings: ``LANGSMITH_<name>``, else ``LANGCHAIN_<name>``."""
    for prefix in ("LANGSMITH", "LANGCHAIN"):
        value = environ.get(f"{prefix}_{name}")
        if value is not None and value.strip():
            return value
    return None


def tracing_on(environ: Mapping[str, str]) -> bool:
    """Exactly when LangChain's tracer sends traces (``langsmith.utils.tracing_is_enabled``)."""
    return (_env(environ, "TRACING_V2") or _env(environ, "TRACING") or "") == "true"


def traced_project(environ: Mapping[str, str]) -> str | None:
    """The LangSmith project traces go to, or None when tracing is off."""
    return (_env(environ, "PROJECT") or "default") if tracing_on(environ) else None


def database_url(env: Mapping[str, str]) -> str:
    url = env.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{Path('data') / 'approvals.db'}"
    if url.startswith(("postgresql://", "postgres://", "sqlite:///")):
        return url
    raise ConfigError(
        f"DATABASE_URL: {_scheme_of(url)} is not supported; it must start with postgresql:// "
        "or sqlite:///"
    )


def _scheme_of(url: str) -> str:
    """What a refused URL is named by in an error: its scheme, never the rest (a password)."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    if scheme.isascii() and scheme.isprintable() and scheme:
        return f"a {scheme!r} URL"
    return "the value (no scheme)"


def http_url(env: Mapping[str, str], name: str) -> str | None:
    """An optional http(s) URL with a host; the error names its scheme, never the rest."""
    url = env.get(name, "").strip()
    if not url:
        return None
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{name}: {_scheme_of(url)} is not an http(s) URL (write https://…)")
    if not urlsplit(url).hostname:
        raise ConfigError(f"{name}: the URL names no host (write https://host/…)")
    return url


def flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: {raw!r} is not true or false (write true, or leave it unset)")


SENDER = re.compile(r"[^@\s<>,]+@[^@\s<>,]+")  # one address: agent@host, host may be dotless


def sender(env: Mapping[str, str]) -> str:
    """``EMAIL_FROM``: one address, bare or with a display name (``Agent <agent@x.example>``),
    as a From header carries it and smtplib reads the envelope sender out of it."""
    sender = env.get("EMAIL_FROM", "").strip() or "agent@localhost"
    found = getaddresses([sender])
    if "\n" in sender or "\r" in sender or len(found) != 1 or not SENDER.fullmatch(found[0][1]):
        raise ConfigError(
            f"EMAIL_FROM: {sender!r} is not one address "
            "(write agent@yourcompany.example, or Agent <agent@yourcompany.example>)"
        )
    return sender


def webhook_allowlist(env: Mapping[str, str], name: str = "WEBHOOK_ALLOWLIST") -> Allowlist:
    """Origins (``scheme://host[:port]``) the shipped actions may reach, matched exactly (or,
    for ``WEBHOOK_IDEMPOTENT``, whose webhooks honour an ``Idempotency-Key``)."""
    try:
        return Allowlist.from_text(env.get(name, ""))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def default_policy_file() -> str | None:
    """``policy.yaml`` in the working directory, when there is one (as with langgraph.json)."""
    return "policy.yaml" if Path("policy.yaml").is_file() else None


def api_principals(env: Mapping[str, str]) -> tuple[Principal, ...]:
    try:
        return read_principals(env)
    except ValueError as exc:  # the message names the variable
        raise ConfigError(str(exc)) from None


def choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ConfigError(f"{name}: {value!r} must be one of {', '.join(choices)}")
    return value
