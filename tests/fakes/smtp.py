"""FakeSMTP: a real SMTP server on 127.0.0.1 that records what ``smtplib`` sends it.

    with FakeSMTP() as smtp:
        env = {"SMTP_URL": smtp.url, ...}
        ...
        [mail] = smtp.wait_for_messages(1)
        assert mail.message["Subject"] == "Hello"

It speaks just enough SMTP (EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT) for
``smtplib.SMTP.send_message``; no STARTTLS, but implicit TLS (``smtps://``) when given a server
context, and AUTH PLAIN when given a ``login`` (user, password): then it refuses MAIL until a
client has logged in with exactly those (535 for others), as a submission server does. Each
accepted DATA becomes one :class:`Mail`. A server that misbehaves in ways real ones do:
``refuse`` answers RCPT TO for those addresses with 550, ``quit_reply`` answers QUIT with
another code (a 421 "closing" instead of 221) and closes, as real servers do; ``refuse_at``
answers one stage with the given reply instead (``{"MAIL": (550, "5.7.1 Sender blocked")}``):
``greeting`` (then hangs up), ``EHLO`` (and HELO), ``AUTH``, ``MAIL``, ``RCPT``, ``DATA``, or
``message`` (the answer after its end: nothing is delivered).
"""

from __future__ import annotations

import base64
import binascii
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, Self, cast

from ._http import Service

HOSTNAME = "fake-smtp.test"
STAGES = frozenset({"greeting", "EHLO", "AUTH", "MAIL", "RCPT", "DATA", "message"})
MAX_LINE = 65_536


@dataclass(frozen=True)
class Mail:
    """One message as delivered: the SMTP envelope and the parsed content."""

    mail_from: str
    rcpt_to: tuple[str, ...]
    message: EmailMessage

    @property
    def body(self) -> str:
        part = self.message.get_body(("plain",))
        return "" if part is None else cast(EmailMessage, part).get_content()


def _address(argument: str, keyword: str) -> str | None:
    """``FROM:<a@b.co> SIZE=12`` -> ``a@b.co``; None when the keyword is missing."""
    head, _, rest = argument.partition(":")
    if head.strip().upper() != keyword:
        return None
    return rest.strip().split(" ")[0].strip("<>")


class _Session(socketserver.StreamRequestHandler):
    server: _Server
    _sender: str | None  # the transaction being built, cleared by MAIL, RSET and DATA
    _logged_in: bool  # AUTH done, or none asked for
    _recipients: list[str]

    def handle(self) -> None:
        if self._refused("greeting"):
            return
        self._reply(220, f"{HOSTNAME} ESMTP fake ready")
        self._reset()
        self._logged_in = self.server.login is None
        while line := self.rfile.readline(MAX_LINE):
            verb, _, argument = line.decode("utf-8", "replace").rstrip("\r\n").partition(" ")
            if not self._command(verb.upper(), argument):
                return

    def _refused(self, stage: str) -> bool:
        """Answered with ``refuse_at``'s reply for ``stage``, if it has one."""
        reply = self.server.refuse_at.get(stage)
        if reply is not None:
            self._reply(*reply)
        return reply is not None

    def _command(self, verb: str, argument: str) -> bool:
        """Answer one command; False once the session is over."""
        stage = "EHLO" if verb == "HELO" else verb
        if stage in STAGES and self._refused(stage):
            return True
        if verb == "EHLO":
            auth = ("AUTH PLAIN",) if self.server.login is not None else ()
            self._reply(250, HOSTNAME, "8BITMIME", "SMTPUTF8", *auth, "HELP")
        elif verb == "HELO":
            self._reply(250, HOSTNAME)
        elif verb == "AUTH":
            self._auth(argument)
        elif verb == "MAIL":
            sender = _address(argument, "FROM")
            if not self._logged_in:
                self._reply(530, "5.7.0 Authentication required")
            elif sender is None:
                self._reply(501, "Syntax: MAIL FROM:<address>")
            else:
                self._reset()
                self._sender = sender
                self._reply(250, "OK")
        elif verb == "RCPT":
            recipient = _address(argument, "TO")
            if self._sender is None:
                self._reply(503, "Need MAIL before RCPT")
            elif not recipient:
                self._reply(501, "Syntax: RCPT TO:<address>")
            elif recipient in self.server.refuse:
                self._reply(550, "5.1.1 No such user here")
            else:
                self._recipients.append(recipient)
                self._reply(250, "OK")
        elif verb == "DATA":
            if not self._recipients:
                self._reply(503, "Need RCPT before DATA")
            else:
                self._reply(354, "End data with <CR><LF>.<CR><LF>")
                self._receive()
        elif verb == "RSET":
            self._reset()
            self._reply(250, "OK")
        elif verb == "NOOP":
            self._reply(250, "OK")
        elif verb == "QUIT":
            self._reply(*self.server.quit_reply)
            return False
        else:
            self._reply(502, "Command not implemented")
        return True

    def _auth(self, argument: str) -> None:
        mechanism, _, initial = argument.partition(" ")
        if self.server.login is None or mechanism.upper() != "PLAIN" or not initial:
            self._reply(504, "5.5.4 Unrecognized authentication type")
            return
        try:
            _, user, password = base64.b64decode(initial, validate=True).decode().split("\0")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            self._reply(501, "5.5.2 Cannot decode response")
            return
        if (user, password) != self.server.login:
            self._reply(535, "5.7.8 Authentication credentials invalid")
            return
        self._logged_in = True
        self.server.logins.append(user)
        self._reply(235, "2.7.0 Authentication successful")

    def _receive(self) -> None:
        lines: list[bytes] = []
        while (line := self.rfile.readline(MAX_LINE)) not in (b".\r\n", b".\n"):
            if not line:
                return  # the client hung up mid-message: nothing was delivered
            line = line[1:] if line.startswith(b".") else line  # undo dot-stuffing
            lines.append(line.rstrip(b"\r\n") + b"\n")
        if self._refused("message"):
            self._reset()
            return
        message = cast(EmailMessage, message_from_bytes(b"".join(lines), policy=policy.default))
        assert self._sender is not None
        self.server.record(Mail(self._sender, tuple(self._recipients), message))
        self._reset()
        self._reply(250, "OK: queued")

    def _reset(self) -> None:
        self._sender = None
        self._recipients = []

    def _reply(self, code: int, *lines: str) -> None:
        *first, last = lines
        text = "".join(f"{code}-{line}\r\n" for line in first) + f"{code} {last}\r\n"
        self.wfile.write(text.encode())


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        record: _Recorder,
        tls: ssl.SSLContext | None,
        refuse: frozenset[str] = frozenset(),
        quit_reply: tuple[int, str] = (221, "Bye"),
        login: tuple[str, str] | None = None,
        refuse_at: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        super().__init__(("127.0.0.1", 0), _Session)
        self.refuse_at = dict(refuse_at or {})
        self.record = record
        self.tls = tls
        self.refuse = refuse
        self.quit_reply = quit_reply
        self.login = login
        self.logins: list[str] = []  # the users that logged in, in order

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        if self.tls is not None:  # smtps: TLS from the first byte, as on port 465
            sock = self.tls.wrap_socket(sock, server_side=True)
        return sock, address


class _Recorder:
    def __init__(self) -> None:
        self.changed = threading.Condition()
        self.mails: list[Mail] = []

    def __call__(self, mail: Mail) -> None:
        with self.changed:
            self.mails.append(mail)
            self.changed.notify_all()


class FakeSMTP(Service):
    def __init__(
        self,
        tls: ssl.SSLContext | None = None,
        *,
        refuse: Iterable[str] = (),
        quit_reply: tuple[int, str] = (221, "Bye"),
        login: tuple[str, str] | None = None,
        refuse_at: Mapping[str, tuple[int, str]] | None = None,
    ) -> None:
        """``tls``: the server's context, to be reached at ``smtps://`` (implicit TLS).
        ``refuse``: recipients answered 550 at RCPT TO. ``quit_reply``: the answer to QUIT.
        ``login``: the (user, password) a client must log in with before it may send.
        ``refuse_at``: stage (:data:`STAGES`) -> the reply that refuses it."""
        if unknown := set(refuse_at or {}) - STAGES:
            raise ValueError(f"refuse_at: no such stage {sorted(unknown)}; one of {sorted(STAGES)}")
        self._tls = tls
        self._refuse = frozenset(refuse)
        self._quit_reply = quit_reply
        self._login = login
        self._refuse_at = dict(refuse_at or {})
        self._recorder = _Recorder()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Self:
        if self._server is None:
            self._server = _Server(
                self._recorder,
                self._tls,
                self._refuse,
                self._quit_reply,
                self._login,
                self._refuse_at,
            )
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server is not running; call start() first")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """For ``SMTP_URL``."""
        scheme = "smtps" if self._tls is not None else "smtp"
        return f"{scheme}://127.0.0.1:{self.port}"

    @property
    def logins(self) -> list[str]:
        """The users that logged in (AUTH PLAIN), in order."""
        return list(self._server.logins) if self._server is not None else []

    @property
    def messages(self) -> list[Mail]:
        with self._recorder.changed:
            return list(self._recorder.mails)

    def wait_for_messages(self, count: int = 1, timeout: float = 10.0) -> list[Mail]:
        """Wait until at least ``count`` messages arrived; returns all of them."""
        recorder = self._recorder
        with recorder.changed:
            if recorder.changed.wait_for(lambda: len(recorder.mails) >= count, timeout):
                return list(recorder.mails)
            got = len(recorder.mails)
        raise AssertionError(f"expected {count} email(s) within {timeout}s, got {got}")
