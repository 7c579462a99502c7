"""Settings read once from the environment at start-up (:func:`load_settings`).

Every problem is reported as a :class:`~bot.config.values.ConfigError` naming the variable to
fix, so an operator never has to guess which setting is wrong.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.config.principals import Principal
from bot.config.values import (
    DEFAULT_SLACK_API_URL,
    ConfigError,
    api_principals,
    channel,
    choice,
    database_url,
    default_policy_file,
    duration,
    flag,
    http_url,
    ids,
    log_level,
    number,
    port,
    required,
    seconds_at_least,
    secret,
    sender,
    smtp_url,
    traced_project,
    webhook_allowlist,
)
from graphs.addresses import Allowlist

# CLICK_LEASE's least: a click is taken again by the sweep once its lease runs out, each take
# counting as an attempt; a lease shorter than a click's ordinary work (its ack window, a lock
# waited for) spends the attempts on a click still being worked on.
MIN_CLICK_LEASE = 5.0


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
    # CLICK_LEASE: seconds a click being worked on stays with the process that took it
    click_lease: float = 30.0
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
        poll_every=number(env, "LANGGRAPH_POLL_EVERY", "5" if webhook else "1", float),
    )


def load_settings(env: Mapping[str, str] | None = None, for_graphs: bool = False) -> Settings:
    """Read and validate every setting; raise ConfigError on the first problem. ``for_graphs``:
    only the graphs' settings matter (a LangGraph Server runs them; it receives no Slack
    requests, so no signing secret is needed)."""
    env = os.environ if env is None else env
    bot_token = required(env, "SLACK_BOT_TOKEN", "copy the Bot User OAuth Token (xoxb-…)")
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
        slack_timeout=int(number(env, "SLACK_TIMEOUT", "15")),
        port=port(env),
        database_url=database_url(env),
        openai_api_key=secret(env, "OPENAI_API_KEY"),
        openai_base_url=http_url(env, "OPENAI_BASE_URL"),
        openai_model=env.get("OPENAI_MODEL", "gpt-4o-mini").strip(),
        openai_timeout=number(env, "OPENAI_TIMEOUT", "60", float),
        shutdown_grace=number(env, "SHUTDOWN_GRACE", "10", float),
        retry_after=number(env, "RETRY_AFTER", "60", float),
        default_graph=env.get("DEFAULT_GRAPH", "").strip() or None,
        langgraph_config=env.get("LANGGRAPH_CONFIG", "").strip() or "langgraph.json",
        approvals_channel=channel(env, "APPROVALS_CHANNEL"),
        approvers=ids(env, "APPROVERS"),
        allow_self_approval=flag(env, "ALLOW_SELF_APPROVAL"),
        remind_after=duration(env, "REMIND_AFTER", "1h"),
        escalate_after=duration(env, "ESCALATE_AFTER", "4h"),
        expire_after=duration(env, "EXPIRE_AFTER", "24h"),
        escalation_channel=channel(env, "ESCALATION_CHANNEL"),
        escalate_to=ids(env, "ESCALATE_TO"),
        admins=ids(env, "ADMINS"),
        scheduler_tick=number(env, "SCHEDULER_TICK", "30", float),
        policy_file=env.get("POLICY_FILE", "").strip() or default_policy_file(),
        smtp_url=smtp_url(env),
        email_from=sender(env),
        api_principals=api_principals(env),
        langsmith_project=traced_project(env),
        log_format=choice(env, "LOG_FORMAT", ("text", "json")),
        log_level=log_level(env),
        langgraph=_server(env),
        webhook_allowlist=webhook_allowlist(env),
        webhook_idempotent=webhook_allowlist(env, "WEBHOOK_IDEMPOTENT"),
        webhook_deadline=number(env, "WEBHOOK_DEADLINE", "15", float),
        webhook_slots=int(number(env, "WEBHOOK_SLOTS", "4")),
        click_lease=seconds_at_least(env, "CLICK_LEASE", "30", MIN_CLICK_LEASE),
    )


def approver_defaults(env: Mapping[str, str]) -> tuple[tuple[str, ...], bool]:
    """``APPROVERS`` and ``ALLOW_SELF_APPROVAL`` alone: ``try`` judges the policy file's
    sign-offs with them as the bot does, without needing the bot's Slack settings."""
    return ids(env, "APPROVERS"), flag(env, "ALLOW_SELF_APPROVAL")


def policy_file_setting(env: Mapping[str, str]) -> str | None:
    """``POLICY_FILE``, else ``policy.yaml`` in the working directory when there is one."""
    return env.get("POLICY_FILE", "").strip() or default_policy_file()
