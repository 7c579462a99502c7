"""Which URLs and addresses the shipped actions may reach: parsing, the allowlist, the ranges,
the email addresses ``send_email`` (and any form's email input) accepts, and its mail server.

Pure functions, no I/O. ``graphs.outbound`` resolves a host once and asks :func:`reachable` about
every address it got; the allowlist is matched on (scheme, host, port) exactly, never on a string
prefix (``https://hooks.example.com`` must not let ``https://hooks.example.com.evil.net`` in).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

DEFAULT_PORTS = {"http": 80, "https": 443}
_HOSTNAME = re.compile(r"^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$")

# Networks Python's ``is_global`` does not rule out on every supported version, or that embed
# another address (NAT64), listed so the answer does not depend on the interpreter.
_NOT_PUBLIC = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8",  # "this network": 0.0.0.0 reaches the local host on Linux
        "100.64.0.0/10",  # carrier-grade NAT: the provider's inside
        "192.0.0.0/24",
        "198.18.0.0/15",
        "168.63.129.16/32",  # Azure's host endpoint (WireServer): public space, every VM's inside
        "64:ff9b:1::/48",  # local-use NAT64
        "fec0::/10",  # deprecated site-local, still routed inside some networks
    )
)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


# An email address, spelled so that what a person reads is where it goes: a dot-atom local part
# (no quotes, comments or <angle brackets>, no "%" or "!" routing through another host, no "=?"
# of an encoded word) at a host name of dot-separated labels whose last one starts with a letter
# (no [domain literal], no bare IP address). ASCII only. smtplib would take the header's own
# RFC 5322 reading instead: "x<ceo>@corp.example" is the local mailbox "ceo".
_ATOM = r"[A-Za-z0-9#$&'*+/^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TOP_LABEL = r"[A-Za-z](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+{_TOP_LABEL}")
EMAILS_PROBLEM = "Enter one or more email addresses, separated by commas."


def email_addresses(text: str) -> tuple[str, ...] | None:
    """The addresses in ``text`` (comma-separated, each stripped of surrounding spaces) when every
    one is a plain ``name@host.example`` (at most 64 characters before the ``@``, 254 in all),
    else None. Mail goes to exactly these (the envelope is set from them, not from a header)."""
    addresses = tuple(part.strip() for part in text.split(","))
    for address in addresses:
        local, _, _domain = address.partition("@")
        if len(local) > 64 or len(address) > 254 or not _EMAIL.fullmatch(address):
            return None
    return addresses


@dataclass(frozen=True, order=True)
class Origin:
    scheme: str
    host: str  # lower case, no trailing dot; an IP literal in its canonical form
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class Target:
    """A URL the bot may be asked to request: where it goes and what it asks for."""

    origin: Origin
    path: str  # the request target: path and query, at least "/"


def _host(raw: str | None) -> str:
    host = (raw or "").rstrip(".").lower()
    if not host:
        raise ValueError("has no host")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    if not host.isascii():
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError:
            raise ValueError("has a host name that is not valid") from None
    if not _HOSTNAME.match(host):
        raise ValueError("has a host name that is not valid")
    return host


def parse_target(url: str) -> Target:
    """The URL's origin and request target; ValueError (with a reason) when it is not a plain
    http(s) URL: no credentials, no spaces or control characters, a valid host and port."""
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url):
        raise ValueError("has spaces or control characters")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise ValueError("is not an http:// or https:// URL")
    if "@" in parts.netloc:  # user:pass@ makes a host easy to misread (a.com@b.net is b.net)
        raise ValueError("has credentials (user@host)")
    try:
        port = parts.port
    except ValueError:
        raise ValueError("has a port that is not valid") from None
    if port == 0:
        raise ValueError("has a port that is not valid")
    origin = Origin(scheme, _host(parts.hostname), port or DEFAULT_PORTS[scheme])
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    # The request line is ASCII: percent-encode the rest here, not fail part way through sending.
    return Target(origin, "".join(c if c.isascii() else quote(c) for c in path))


SMTP_URL_PROBLEM = (
    "SMTP_URL: must be smtp://host:port or smtps://host:port, with user:password@ before the "
    "host when the server asks for a login (percent-encode /, ?, #, @ and % in them)"
)


@dataclass(frozen=True)
class MailServer:
    """Where ``send_email`` sends, as SMTP_URL says: ``secure`` is smtps (TLS from the start)."""

    secure: bool
    host: str
    port: int
    username: str | None = None
    password: str | None = None


def parse_mail_server(url: str) -> MailServer:
    """SMTP_URL read, its user and password percent-decoded; ValueError (SMTP_URL_PROBLEM, which
    never repeats the URL: it holds a password) when it is not one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
        host = _host(parts.hostname)
    except ValueError:
        raise ValueError(SMTP_URL_PROBLEM) from None
    scheme = parts.scheme.lower()
    if scheme not in ("smtp", "smtps") or port == 0 or parts.path not in ("", "/"):
        raise ValueError(SMTP_URL_PROBLEM)
    if parts.query or parts.fragment:
        raise ValueError(SMTP_URL_PROBLEM)
    secure = scheme == "smtps"
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    return MailServer(secure, host, port or (465 if secure else 25), user, password)


def parse_origin(entry: str) -> Origin:
    """An allowlist entry: ``scheme://host[:port]`` (a trailing ``/`` is fine, a path is not:
    the list names places the bot may reach, matched exactly, not URL prefixes)."""
    target = parse_target(entry.strip())
    parts = urlsplit(entry.strip())
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("has a path; list origins only (scheme://host[:port])")
    return target.origin


@dataclass(frozen=True)
class Allowlist:
    """``WEBHOOK_ALLOWLIST``, parsed once at start-up."""

    origins: frozenset[Origin] = frozenset()

    @classmethod
    def parse(cls, entries: Iterable[str]) -> Allowlist:
        """ValueError naming the first malformed entry."""
        origins = set()
        for entry in entries:
            if not entry.strip():
                continue
            try:
                origins.add(parse_origin(entry))
            except ValueError as exc:
                raise ValueError(f"{entry.strip()!r} {exc}") from None
        return cls(frozenset(origins))

    @classmethod
    def from_text(cls, text: str) -> Allowlist:
        """The environment variable's value: comma-separated origins."""
        return cls.parse(text.split(","))

    def __bool__(self) -> bool:
        return bool(self.origins)

    def allows(self, origin: Origin) -> bool:
        return origin in self.origins


def reachable(address: IPAddress) -> bool:
    """True for a public unicast address. False for loopback, link-local (cloud metadata at
    169.254.169.254), private, unique-local, carrier-grade NAT, unspecified, multicast, reserved
    and documentation ranges, and for IPv6 forms that embed one of those (IPv4-mapped, 6to4,
    NAT64): the bot is not a way into the network it runs in."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            return False
        embedded = [address.ipv4_mapped, address.sixtofour]
        if address in _NAT64:
            embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        if address.teredo is not None:
            return False
        if address.ipv4_mapped is not None:
            return reachable(address.ipv4_mapped)
        if any(inner is not None and not reachable(inner) for inner in embedded):
            return False
    if any(address in net for net in _NOT_PUBLIC if net.version == address.version):
        return False
    flags = (
        address.is_loopback,
        address.is_link_local,
        address.is_private,
        address.is_unspecified,
        address.is_multicast,
        address.is_reserved,
    )
    return address.is_global and not any(flags)
