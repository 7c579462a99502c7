"""Who calls the HTTP approval API: each bearer token is one principal, bound to one identity.

A principal has a name (for the audit trail and the logs), a token, and the Slack user it acts
as. Only a principal configured with ``on_behalf`` may name another Slack user as the one
deciding or requesting; what it does for them is recorded as done on their behalf, by it.

Configured with ``API_TOKENS`` (``name:token:U…`` or ``name:token:U…:on_behalf``, several
separated by commas), ``API_TOKENS_FILE`` (YAML or JSON: a mapping from each name to its
``token``, ``user`` and optional ``on_behalf``), or both. The single ``API_TOKEN`` of earlier
versions let whoever held it decide as anyone; it is accepted only bound to one identity with
``API_TOKEN_USER`` (its principal is then named ``api``).

Pure: the environment (and the file's text) in, principals out; every problem is a
``ValueError`` naming the variable, which the settings report as a ConfigError.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,39}")
TOKEN = re.compile(r"[A-Za-z0-9_.~+/=-]{16,512}")  # no ':' or ',', which separate the entries
USER = re.compile(r"[UW][A-Z0-9]{2,}")
ON_BEHALF = "on_behalf"
_FILE_KEYS = {"token", "user", "on_behalf"}


@dataclass(frozen=True)
class Principal:
    name: str
    user: str  # the Slack user id it decides and requests as
    on_behalf: bool = False  # may it name another Slack user (`by`, `requester`, `as`)?
    token: str = field(default="", repr=False, compare=False)  # never in a log line

    def acts_as(self, user: str | None) -> str | None:
        """The Slack user a call acts as: ``user`` when named (and this principal may name
        others), else its own; None when it names someone it may not act for."""
        if user is None or user == self.user:
            return self.user
        return user if self.on_behalf else None


class Principals:
    """The configured principals, found by token."""

    def __init__(self, principals: Iterable[Principal]) -> None:
        # Keyed by the token's digest: a lookup's timing says nothing useful about a token.
        self._by_digest = {_digest(p.token): p for p in principals}

    def __bool__(self) -> bool:
        return bool(self._by_digest)

    def __len__(self) -> int:
        return len(self._by_digest)

    def holder(self, token: str) -> Principal | None:
        return self._by_digest.get(_digest(token))


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def read_principals(env: Mapping[str, str]) -> tuple[Principal, ...]:
    """Every principal the environment configures; ValueError naming the variable if wrong."""
    found = [
        *_from_list(env.get("API_TOKENS", "")),
        *_from_file(env.get("API_TOKENS_FILE", "").strip()),
        *_single(env.get("API_TOKEN", "").strip(), env.get("API_TOKEN_USER", "").strip()),
    ]
    names: set[str] = set()
    tokens: set[str] = set()
    for principal in found:
        if principal.name in names:
            raise ValueError(f"API_TOKENS: two tokens are named {principal.name!r}")
        if principal.token in tokens:
            raise ValueError(
                f"API_TOKENS: {principal.name!r} has the same token as another principal; "
                "give each caller its own"
            )
        names.add(principal.name)
        tokens.add(principal.token)
    return tuple(found)


def _from_list(text: str) -> list[Principal]:
    principals = []
    for index, entry in enumerate(e.strip() for e in text.split(",")):
        if not entry:
            continue
        parts = entry.split(":")
        where = f"API_TOKENS entry {index + 1}"
        if len(parts) not in (3, 4) or (len(parts) == 4 and parts[3] != ON_BEHALF):
            raise ValueError(
                f"{where}: expected name:token:U… or name:token:U…:on_behalf "
                f"(got {len(parts)} part(s) separated by ':')"
            )
        name, token, user = (p.strip() for p in parts[:3])
        principals.append(_principal(name, token, user, len(parts) == 4, where))
    return principals


def _from_file(path_text: str) -> list[Principal]:
    if not path_text:
        return []
    path = Path(path_text)
    try:
        data = yaml.safe_load(path.read_text())  # JSON is YAML too
    except OSError as exc:
        raise ValueError(f"API_TOKENS_FILE: cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"API_TOKENS_FILE: {path} is not valid YAML or JSON: {exc}") from None
    if not isinstance(data, Mapping) or not data:
        raise ValueError(f"API_TOKENS_FILE: {path} must map each principal's name to its token")
    principals = []
    for name, body in data.items():
        where = f"API_TOKENS_FILE: {path}: {name}"
        if not isinstance(body, Mapping):
            raise ValueError(f"{where} must be a mapping with token and user")
        unknown = set(map(str, body)) - _FILE_KEYS
        if unknown:
            raise ValueError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        on_behalf = body.get("on_behalf", False)
        if not isinstance(on_behalf, bool):
            raise ValueError(f"{where}.on_behalf must be true or false")
        token, user = _text(body.get("token")), _text(body.get("user"))
        principals.append(_principal(str(name), token, user, on_behalf, where))
    return principals


def _single(token: str, user: str) -> list[Principal]:
    if not token and not user:
        return []
    if not token:
        raise ValueError("API_TOKEN_USER is set but API_TOKEN is not; set both, or use API_TOKENS")
    if not user:
        raise ValueError(
            "API_TOKEN: a single shared token let whoever held it decide as anyone. Bind it to "
            "the one Slack user it acts as with API_TOKEN_USER=U…, or give each caller its own "
            "token bound to its identity: API_TOKENS=name:token:U… (see the README, HTTP "
            "approval API)"
        )
    return [_principal("api", token, user, False, "API_TOKEN", user_variable="API_TOKEN_USER")]


def _principal(
    name: str, token: str, user: str, on_behalf: bool, where: str, user_variable: str = ""
) -> Principal:
    if not NAME.fullmatch(name):
        raise ValueError(f"{where}: name {name[:40]!r} must be letters, digits, '_', '.' or '-'")
    if not TOKEN.fullmatch(token):
        raise ValueError(
            f"{where}: the token of {name!r} must be at least 16 random characters "
            "(letters, digits and _ . ~ + / = -)"
        )
    if not USER.fullmatch(user):
        raise ValueError(
            f"{user_variable or where}: {user[:40]!r} is not a Slack user id (U…); each token "
            "acts as one person"
        )
    return Principal(name, user, on_behalf, token)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""
