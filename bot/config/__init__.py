"""The bot's settings, read once from the environment at start-up (:mod:`bot.config.settings`),
each value checked by :mod:`bot.config.values`; durations (:mod:`bot.config.durations`) and the
API's tokens (:mod:`bot.config.principals`) apart. Every problem is a :class:`ConfigError` that
names the variable to fix."""

from bot.config.settings import (
    ServerSettings,
    Settings,
    approver_defaults,
    load_settings,
    policy_file_setting,
)
from bot.config.values import (
    CHANNEL_HINT,
    CHANNEL_ID,
    SLACK_ID,
    ConfigError,
    database_url,
    http_url,
    secret,
    traced_project,
    webhook_allowlist,
)

__all__ = [
    "CHANNEL_HINT",
    "CHANNEL_ID",
    "SLACK_ID",
    "ConfigError",
    "ServerSettings",
    "Settings",
    "approver_defaults",
    "database_url",
    "http_url",
    "load_settings",
    "policy_file_setting",
    "secret",
    "traced_project",
    "webhook_allowlist",
]
