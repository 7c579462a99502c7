"""Settings read once from the environment at start-up.

Every problem is reported as a :class:`ConfigError` naming the variable to fix, so an operator
never has to guess which setting is wrong.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Settings:
    slack_bot_token: str
    slack_signing_secret: str | None
    slack_app_token: str | None
    slack_api_url: str
    slack_timeout: int  # seconds a Slack Web API call may take before it is given up
    port: int
    database_url: str
    openai_api_key: str | None  # only a graph that calls the model needs it (bot.agents.no_model)
    openai_base_url: str | None
    openai_model: str
    openai_timeout: float
    shutdown_grace: float
    retry_after: float
    default_graph: str | None
    approvals_channel: str | None
    approvers: tuple[str, ...]
    allow_self_approval: bool
    remind_after: int | None
    escalate_after: int | None
    expire_after: int | None
    escalation_channel: str | None
    escalate_to: tuple[str, ...]
    scheduler_tick: float
    policy_file: str | None
    smtp_url: str | None
    email_from: str
    webhook_allowlist: Allowlist = field(default_factory=Allowlist)
    # WEBHOOK_IDEMPOTENT: origins whose webhooks honour Idempotency-Key (graphs.outcomes)
    webhook_idempotent: Allowlist = field(default_factory=Allowlist)
    # WEBHOOK_DEADLINE: seconds for one outbound call in all (connect and every read)
    webhook_deadline: float = 15.0
    # WEBHOOK_SLOTS: outbound calls under way at once in a process (the pool has 8 workers)
    webhook_slots: int = 4
    langgraph_config: str = "langgraph.json"
    # API_TOKENS (and API_TOKENS_FILE, API_TOKEN): the HTTP approval API is on only with one
    api_principals: tuple[Principal, ...] = ()
    admins: tuple[str, ...] = ()  # ADMINS: may see, cancel and retry every run
    log_format: str = "text"
    log_level: str = "INFO"
    langgraph: ServerSettings | None = None  # graphs run on a LangGraph Server, not in-process
    # LANGSMITH_TRACING (and LANGSMITH_PROJECT): the LangSmith project runs are traced to, or
    # None when tracing is off (bot.agents.traces)
    langsmith_project: str | None = None

    @property
    def socket_mode(self) -> bool:
        return self.slack_app_token is not None


@dataclass(frozen=True)
class ServerSettings:
    """Where the agents run when a LangGraph Server runs them (``LANGGRAPH_API_URL``)."""

    url: str
    api_key: str | None
    webhook_url: str | None  # the bot's /langgraph/webhook as the server reaches it
    poll_every: float  # seconds between looks at the threads under way

    @property
    def shown(self) -> str:
        """The URL as messages name it (in Slack, in logs): without a user, password or query,
        which may hold a proxy's credentials."""
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        host = f"[{host}]" if ":" in host else host
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}"


def _server(env: Mapping[str, str]) -> ServerSettings | None:
    url = (http_url(env, "LANGGRAPH_API_URL") or "").rstrip("/")
    if not url:
        return None
    webhook = http_url(env, "LANGGRAPH_WEBHOOK_URL")
    return ServerSettings(
        url=url,
        api_key=secret(env, "LANGGRAPH_API_KEY"),
        webhook_url=webhook,
        # Without a webhook, polling is how the bot hears of a pause: look often.
        poll_every=_number(env, "LANGGRAPH_POLL_EVERY", "5" if webhook else "1", float),
    )


def _smtp_url(env: Mapping[str, str]) -> str | None:
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


def _channel(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    if value and not ENV_CHANNEL_ID.match(value):
        raise ConfigError(
            f"{name}: {value!r} is not a Slack channel id like C0123ABCD ({CHANNEL_HINT})"
        )
    return value or None


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Python's own names besides those (LOG_LEVEL was handed to logging as it was, before).
LOG_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "NOTSET": "NOTSET"}


def _log_level(env: Mapping[str, str]) -> str:
    level = env.get("LOG_LEVEL", "").strip().upper() or "INFO"
    if level not in LOG_LEVELS and level not in LOG_LEVEL_ALIASES:
        raise ConfigError(f"LOG_LEVEL: {level.lower()!r} is not one of {', '.join(LOG_LEVELS)}")
    return LOG_LEVEL_ALIASES.get(level, level)


def _ids(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    values = tuple(part.strip() for part in env.get(name, "").split(",") if part.strip())
    for value in values:
        if not SLACK_ID.match(value):
            raise ConfigError(f"{name}: {value!r} is not a Slack user (U…) or user-group (S…) ID")
    return values


def _duration(env: Mapping[str, str], name: str, default: str | None) -> int | None:
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


def _number(env: Mapping[str, str], name: str, default: str, kind: type = int) -> float:
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


def _port(env: Mapping[str, str]) -> int:
    port = int(_number(env, "PORT", "3000"))
    if port > 65535:
        raise ConfigError(f"PORT: {port} is not a TCP port (1-65535)")
    return port


def _required(env: Mapping[str, str], name: str, hint: str) -> str:
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


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name}: {raw!r} is not true or false (write true, or leave it unset)")


SENDER = re.compile(r"[^@\s<>,]+@[^@\s<>,]+")  # one address: agent@host, host may be dotless


def _sender(env: Mapping[str, str]) -> str:
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


def load_settings(env: Mapping[str, str] | None = None, for_graphs: bool = False) -> Settings:
    """Read and validate every setting; raise ConfigError on the first problem. ``for_graphs``:
    only the graphs' settings matter (a LangGraph Server runs them; it receives no Slack
    requests, so no signing secret is needed)."""
    env = os.environ if env is None else env
    bot_token = _required(env, "SLACK_BOT_TOKEN", "copy the Bot User OAuth Token (xoxb-…)")
    if not bot_token.startswith("xoxb-"):
        raise ConfigError("SLACK_BOT_TOKEN: expected a bot token starting with xoxb-")
    secret(env, "SLACK_BOT_TOKEN")
    app_token = secret(env, "SLACK_APP_TOKEN")
    if app_token is not None and not app_token.startswith("xapp-"):
        raise ConfigError("SLACK_APP_TOKEN: expected an app-level token starting with xapp-")
    signing_secret = secret(env, "SLACK_SIGNING_SECRET")
    if app_token is None and signing_secret is None and not for_graphs:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set: HTTP mode checks every request with it "
            "(or set SLACK_APP_TOKEN to run in Socket Mode)"
        )
    api_url = env.get("SLACK_API_URL", DEFAULT_SLACK_API_URL).strip()
    if not api_url.startswith(("http://", "https://")):
        raise ConfigError(f"SLACK_API_URL: {api_url!r} is not an http(s) URL")
    if not api_url.endswith("/"):
        api_url += "/"
    return Settings(
        slack_bot_token=bot_token,
        slack_signing_secret=signing_secret,
        slack_app_token=app_token,
        slack_api_url=api_url,
        slack_timeout=int(_number(env, "SLACK_TIMEOUT", "15")),
        port=_port(env),
        database_url=database_url(env),
        openai_api_key=secret(env, "OPENAI_API_KEY"),
        openai_base_url=http_url(env, "OPENAI_BASE_URL"),
        openai_model=env.get("OPENAI_MODEL", "gpt-4o-mini").strip(),
        openai_timeout=_number(env, "OPENAI_TIMEOUT", "60", float),
        shutdown_grace=_number(env, "SHUTDOWN_GRACE", "10", float),
        retry_after=_number(env, "RETRY_AFTER", "60", float),
        default_graph=env.get("DEFAULT_GRAPH", "").strip() or None,
        langgraph_config=env.get("LANGGRAPH_CONFIG", "").strip() or "langgraph.json",
        approvals_channel=_channel(env, "APPROVALS_CHANNEL"),
        approvers=_ids(env, "APPROVERS"),
        allow_self_approval=_flag(env, "ALLOW_SELF_APPROVAL"),
        remind_after=_duration(env, "REMIND_AFTER", "1h"),
        escalate_after=_duration(env, "ESCALATE_AFTER", "4h"),
        expire_after=_duration(env, "EXPIRE_AFTER", "24h"),
        escalation_channel=_channel(env, "ESCALATION_CHANNEL"),
        escalate_to=_ids(env, "ESCALATE_TO"),
        admins=_ids(env, "ADMINS"),
        scheduler_tick=_number(env, "SCHEDULER_TICK", "30", float),
        policy_file=env.get("POLICY_FILE", "").strip() or _default_policy_file(),
        smtp_url=_smtp_url(env),
        email_from=_sender(env),
        api_principals=_api_principals(env),
        langsmith_project=traced_project(env),
        log_format=_choice(env, "LOG_FORMAT", ("text", "json")),
        log_level=_log_level(env),
        langgraph=_server(env),
        webhook_allowlist=webhook_allowlist(env),
        webhook_idempotent=webhook_allowlist(env, "WEBHOOK_IDEMPOTENT"),
        webhook_deadline=_number(env, "WEBHOOK_DEADLINE", "15", float),
        webhook_slots=int(_number(env, "WEBHOOK_SLOTS", "4")),
    )


def webhook_allowlist(env: Mapping[str, str], name: str = "WEBHOOK_ALLOWLIST") -> Allowlist:
    """Origins (``scheme://host[:port]``) the shipped actions may reach, matched exactly (or,
    for ``WEBHOOK_IDEMPOTENT``, whose webhooks honour an ``Idempotency-Key``)."""
    try:
        return Allowlist.from_text(env.get(name, ""))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


def _default_policy_file() -> str | None:
    """``policy.yaml`` in the working directory, when there is one (as with langgraph.json)."""
    return "policy.yaml" if Path("policy.yaml").is_file() else None


def _api_principals(env: Mapping[str, str]) -> tuple[Principal, ...]:
    try:
        return read_principals(env)
    except ValueError as exc:  # the message names the variable
        raise ConfigError(str(exc)) from None


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise ConfigError(f"{name}: {value!r} must be one of {', '.join(choices)}")
    return value


def approver_defaults(env: Mapping[str, str]) -> tuple[tuple[str, ...], bool]:
    """``APPROVERS`` and ``ALLOW_SELF_APPROVAL`` alone: ``try`` judges the policy file's
    sign-offs with them as the bot does, without needing the bot's Slack settings."""
    return _ids(env, "APPROVERS"), _flag(env, "ALLOW_SELF_APPROVAL")


def policy_file_setting(env: Mapping[str, str]) -> str | None:
    """``POLICY_FILE``, else ``policy.yaml`` in the working directory when there is one."""
    return env.get("POLICY_FILE", "").strip() or _default_policy_file()
