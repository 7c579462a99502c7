"""Make untrusted text (model output, user edits) safe to show in Slack.

Slack parses ``<...>`` as links and mentions and treats a bare ``@here``/``@channel``/
``@everyone`` as a live mention in mrkdwn, so untrusted text is escaped (``&``, ``<``, ``>``)
and those words get a zero-width joiner after the ``@``. Everything is also cut to Block Kit's
limits, saying how much was left out.
"""

from __future__ import annotations

import re

SECTION_LIMIT = 3000
_BROADCAST = re.compile(r"@(here|channel|everyone)\b", re.IGNORECASE)
_ZWJ = "\u2060"


# Characters that change what a reader sees without being seen: bidirectional embeddings,
# overrides and isolates (U+202E shows "0987" as "7890"), the zero-width space, word joiner and
# byte-order mark. Untrusted text shows each as a visible marker instead. Not the joiners and
# marks that scripts and emoji need (U+200C/D, U+200E/F): those stay as they are.
_HIDDEN = re.compile("[\u200b\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")


def escape(text: str) -> str:
    """Escape mrkdwn control characters, show hidden ones, and defuse broadcast words."""
    text = _HIDDEN.sub(lambda m: f"[U+{ord(m.group(0)):04X}]", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@" + _ZWJ + m.group(1), text)


def literal(text: str, limit: int) -> tuple[str, bool]:
    """An untrusted value shown as itself: in a code span (a code block when it runs over
    lines), where Slack formats nothing -- no ``~strike~`` making an address look removed, no
    second line forging another argument -- with its backticks shown as ˋ so none closes the
    span early. Empty and blank values say so."""
    if not text.strip():
        return ("_(empty)_" if not text else "_(blank)_"), False
    body, cut = safe(text.replace("`", "ˋ"), limit)
    return (f"\n```{body}```" if "\n" in body else f"`{body}`"), cut


def one_line(text: str, limit: int) -> tuple[str, bool]:
    """An untrusted name (a tool's, an argument's) for a code span or a bold label: on one
    line, and with no backtick to close the span early (``wire`\n*Risk*`` forges a field)."""
    return safe(text.replace("`", "'").replace("\r", " ").replace("\n", " ↵ "), limit)


def truncate(text: str, limit: int, note: str = "…") -> tuple[str, bool]:
    """Cut ``text`` to at most ``limit`` characters, ending with ``note`` when cut."""
    if len(text) <= limit:
        return text, False
    return text[: max(0, limit - len(note))] + note, True


def chunks(text: str, size: int) -> list[str]:
    """Split on line breaks where possible, never producing a piece longer than ``size``."""
    pieces: list[str] = []
    while len(text) > size:
        cut = text.rfind("\n", size // 2, size)
        cut = size if cut == -1 else cut + 1
        entity = text.rfind("&", cut - 5, cut)  # never split an escape such as &amp;
        if entity > 0 and ";" not in text[entity:cut]:
            cut = entity
        pieces.append(text[:cut])
        text = text[cut:]
    if text or not pieces:
        pieces.append(text)
    return pieces


def cut_escaped(text: str, limit: int) -> tuple[str, bool]:
    """Cut already-escaped text to ``limit`` characters without splitting an entity."""
    if len(text) <= limit:
        return text, False
    cut = limit - 1
    entity = text.rfind("&", max(0, cut - 5), cut)
    if entity != -1 and ";" not in text[entity:cut]:
        cut = entity
    return text[:cut] + "…", True


def safe(text: str, limit: int) -> tuple[str, bool]:
    """Untrusted text, escaped, then cut to ``limit`` (escaping can grow text fivefold, so the
    cut must come after it)."""
    return cut_escaped(escape(text), limit)


def quote(text: str, limit: int = SECTION_LIMIT) -> tuple[str, bool]:
    """Escaped text as a mrkdwn block quote that fits in one section."""
    quoted = "\n".join("&gt; " + line if line else "&gt;" for line in escape(text).split("\n"))
    return cut_escaped(quoted, limit)
