"""Check what Slack would make of text the bot shows: which mentions and links are live.

Slack turns ``<...>`` into mentions and links anywhere in mrkdwn (and in a message's top-level
``text``), and a bare ``@here``/``@channel``/``@everyone`` into a broadcast. The bot escapes
untrusted text (``&lt;`` and co.) and puts U+2060 after the ``@``; these helpers find what got
through, and undo the escaping so tests can compare what a reader sees with the original.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

HOSTILE = "<!channel> @here @everyone <@U0123> <https://evil.example|click> & more"

_TOKEN = re.compile(r"<([^<>]*)>")
_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_DATE = re.compile(r"!date\^\d+\^[^|]*\|[^<>]*")
# A link to a card, as the bot writes it from the card's channel and timestamp (Slack's ids).
_CARD_LINK = re.compile(r"https://slack\.com/archives/[CGD][A-Z0-9]+/p\d+\|card")


def live_tokens(text: str, trusted_users: Iterable[str] = ()) -> list[str]:
    """Live ``<...>`` tokens and bare broadcast words in ``text``, except those the bot itself
    writes: mentions of ``trusted_users``, channel links, date tokens and links to cards."""
    allowed = {f"@{user}" for user in trusted_users}
    found = []
    for match in _TOKEN.finditer(text):
        inner = match.group(1)
        if inner in allowed or re.fullmatch(r"#[CGD][A-Z0-9_]+", inner) or _DATE.fullmatch(inner):
            continue
        if _CARD_LINK.fullmatch(inner):
            continue
        found.append(match.group(0))
    found += [m.group(0) for m in _BROADCAST.finditer(text)]
    return found


def unescape(text: str) -> str:
    """What a reader sees of text the bot escaped (the inverse of
    ``bot.slack.blocks.text.escape``)."""
    text = text.replace("@\u2060", "@")
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
