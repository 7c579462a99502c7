"""A modal is bound to what the bot opened it for: the request, the version of it on the card,
the person it was opened for and, for a graph's own button, which one. The binding travels in
the view's ``private_metadata``, signed, so a submission whose metadata names anything else is
refused rather than applied to another request."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass

_SEALED = re.compile(r"([0-9a-f]{16}):([1-9][0-9]{0,8}):([0-9a-f]{32})(?::(.{1,200}))?", re.DOTALL)


@dataclass(frozen=True)
class Bound:
    approval_id: str
    version: int
    name: str  # a graph's own button (a choice modal), else ""


def modal_key(*secrets: str | None) -> bytes:
    """The signing key, derived from the bot's own secrets (nobody else knows them)."""
    material = "\n".join(s for s in secrets if s)
    return hashlib.sha256(b"modal-binding\n" + material.encode()).digest()


def seal(key: bytes, approval_id: str, version: int, user: str, name: str = "") -> str:
    mac = _mac(key, approval_id, version, user, name)
    return f"{approval_id}:{version}:{mac}" + (f":{name}" if name else "")


def unseal(key: bytes, metadata: str, user: str) -> Bound | None:
    """What the modal was opened for, if ``metadata`` is a binding the bot made for ``user``."""
    match = _SEALED.fullmatch(metadata)
    if match is None:
        return None
    approval_id, version, mac, name = match.group(1), int(match.group(2)), match.group(3), ""
    name = match.group(4) or ""
    if not hmac.compare_digest(mac, _mac(key, approval_id, version, user, name)):
        return None
    return Bound(approval_id, version, name)


def _mac(key: bytes, approval_id: str, version: int, user: str, name: str) -> str:
    message = f"{approval_id}\n{version}\n{user}\n{name}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]
