"""The ``env`` file a ``langgraph.json`` names (LangGraph CLI's format: a dotenv file).

``KEY=value`` a line; blank lines and ``#`` comments are skipped; ``export KEY=value`` is
accepted; a value may be quoted (``"…"`` understands ``\\n``, ``\\t``, ``\\"`` and ``\\\\``;
``'…'`` is taken as it is); an unquoted value ends at `` #``. No interpolation. The process
environment wins over the file: a variable set by the platform is never overridden by a file
someone forgot in the image.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, MutableMapping
from pathlib import Path

from bot.config import ConfigError

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def parse(text: str, where: str = "env file") -> dict[str, str]:
    """The variables in ``text``; a line that is not one raises :class:`ConfigError`."""
    values: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line.removeprefix("export ").lstrip()
        name, equals, rest = line.partition("=")
        name = name.strip()
        if not equals or not NAME.match(name):
            raise ConfigError(f"{where}, line {number}: expected NAME=value, got {raw.strip()!r}")
        values[name] = _value(rest.strip(), f"{where}, line {number}")
    return values


def _value(text: str, where: str) -> str:
    if text[:1] in ('"', "'"):
        quote = text[0]
        end = _closing(text, quote)
        if end < 0:
            raise ConfigError(f"{where}: the value's {quote} is never closed")
        if text[end + 1 :].strip() and not text[end + 1 :].strip().startswith("#"):
            raise ConfigError(f"{where}: unexpected text after the quoted value")
        inner = text[1:end]
        if quote == "'":
            return inner
        return re.sub(r"\\(.)", lambda m: ESCAPES.get(m.group(1), m.group(0)), inner)
    return re.split(r"\s+#", text, maxsplit=1)[0].strip()


def _closing(text: str, quote: str) -> int:
    index = 1
    while index < len(text):
        if text[index] == "\\" and quote == '"':
            index += 2
            continue
        if text[index] == quote:
            return index
        index += 1
    return -1


def read(path: Path, where: str) -> dict[str, str]:
    """The file's variables; an absent file is no variables (``.env`` is usually not shipped)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{where}: cannot read it ({exc.strerror})") from None
    return parse(text, where)


def apply(values: Mapping[str, str], environ: MutableMapping[str, str]) -> dict[str, str]:
    """Set what the environment does not set already; what was set."""
    added = {name: value for name, value in values.items() if name not in environ}
    environ.update(added)
    return added
