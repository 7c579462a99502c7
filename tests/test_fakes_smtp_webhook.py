"""FakeSMTP and FakeWebhook behave like real servers as seen through smtplib and urllib."""

from __future__ import annotations

import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage

import pytest

from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import FakeWebhook


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP() as server:
        yield server


@pytest.fixture
def webhook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as server:
        yield server


def test_smtp_records_what_send_message_sends(smtp: FakeSMTP) -> None:
    message = EmailMessage()
    message["From"] = "agent@example.com"
    message["To"] = "a@example.com, b@example.com"
    message["Subject"] = "Status"
    message.set_content(".starts with a dot\n.\nlast line")  # dot-stuffed on the wire
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=5) as client:
        assert client.noop()[0] == 250
        client.send_message(message)
        client.sendmail("x@example.com", ["y@example.com"], "Subject: second\r\n\r\nhi\r\n")

    first, second = smtp.wait_for_messages(2)
    assert first.mail_from == "agent@example.com"
    assert first.rcpt_to == ("a@example.com", "b@example.com")
    assert (first.message["To"], first.message["Subject"]) == (message["To"], "Status")
    assert first.body == ".starts with a dot\n.\nlast line\n"
    assert (second.rcpt_to, second.message["Subject"], second.body) == (
        ("y@example.com",),
        "second",
        "hi\n",
    )


def test_smtp_refuses_commands_out_of_order(smtp: FakeSMTP) -> None:
    with smtplib.SMTP("127.0.0.1", smtp.port, timeout=5) as client:
        client.helo("test")
        assert client.rcpt("a@example.com")[0] == 503
        assert client.docmd("DATA")[0] == 503
        assert client.mail("x@example.com")[0] == 250
        assert client.rset()[0] == 250
        assert client.rcpt("a@example.com")[0] == 503  # RSET forgot the sender
        assert client.docmd("VRFY", "a@example.com")[0] == 502
    assert smtp.messages == []
    with pytest.raises(AssertionError, match="expected 1 email"):
        smtp.wait_for_messages(1, timeout=0.1)


@pytest.mark.parametrize(
    ("stage", "raised"),
    [
        ("greeting", smtplib.SMTPConnectError),
        ("EHLO", smtplib.SMTPHeloError),
        ("MAIL", smtplib.SMTPSenderRefused),
        ("RCPT", smtplib.SMTPRecipientsRefused),
        ("DATA", smtplib.SMTPDataError),
        ("message", smtplib.SMTPDataError),
    ],
)
def test_smtp_refuses_the_stage_it_is_told_to_as_smtplib_sees_it(
    stage: str, raised: type[smtplib.SMTPException]
) -> None:
    with FakeSMTP(refuse_at={stage: (554, "5.7.1 No")}) as server:
        with pytest.raises(raised), smtplib.SMTP("127.0.0.1", server.port, timeout=5) as client:
            client.sendmail("x@example.com", ["y@example.com"], "Subject: s\r\n\r\nhi\r\n")
        assert server.messages == []
    with pytest.raises(ValueError, match="no such stage"):
        FakeSMTP(refuse_at={"QUIT": (554, "No")})


def test_webhook_records_posts_and_gets(webhook: FakeWebhook) -> None:
    post = urllib.request.Request(
        webhook.url("/deploy"),
        data=b'{"event": "deploy"}',
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(post, timeout=5) as response:
        assert response.status == 200
    with urllib.request.urlopen(webhook.url("/health"), timeout=5) as response:
        assert response.status == 200

    posted, got = webhook.wait_for_hits(2)
    assert (posted.method, posted.path, posted.json) == ("POST", "/deploy", {"event": "deploy"})
    assert posted.headers["content-type"] == "application/json"
    assert (got.method, got.path, got.body) == ("GET", "/health", b"")
    assert webhook.hits("GET") == [got]


def test_webhook_status_and_delay(webhook: FakeWebhook) -> None:
    webhook.status, webhook.delay = 503, 0.3
    began = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(webhook.url("/down"), timeout=5)
    assert info.value.code == 503
    assert time.monotonic() - began >= 0.3
    info.value.close()
    assert len(webhook.hits()) == 1


def test_webhook_redirects_when_told(webhook: FakeWebhook) -> None:
    """A client that follows redirects reaches the target: what the bot must not do."""
    with FakeWebhook() as target:
        webhook.status, webhook.location = 302, target.url("/elsewhere")
        with urllib.request.urlopen(webhook.url("/start"), timeout=5) as response:
            assert response.status == 200
        [hit] = target.wait_for_hits(1)
        assert hit.path == "/elsewhere"
    assert [h.path for h in webhook.hits()] == ["/start"]
