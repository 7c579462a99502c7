"""What graphs get as their model while ``OPENAI_API_KEY`` is unset.

The key is needed only by a graph that calls the model, so a bot (or ``python -m bot try``)
whose graphs never do starts without it. The first use of this stand-in, in a graph's node,
fails that run with a :class:`~bot.config.ConfigError` naming the variable.
"""

from __future__ import annotations

from typing import Any, NoReturn

from bot.config import ConfigError

MISSING_KEY = (
    "OPENAI_API_KEY is not set: this graph calls the model, which needs the key of your "
    "OpenAI-compatible API (and OPENAI_BASE_URL for a server other than OpenAI's)"
)


class NoModel:
    """Stands in for the chat model; any use raises :class:`ConfigError` naming the key."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # copy, pickle and friends probe these: not a use
            raise AttributeError(name)
        missing()

    def __repr__(self) -> str:
        return "NoModel(OPENAI_API_KEY is not set)"


def missing() -> NoReturn:
    raise ConfigError(MISSING_KEY)
