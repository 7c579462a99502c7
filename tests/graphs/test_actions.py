import ssl
import time
from urllib.parse import quote

import pytest

from bot.core.effect_errors import outcome_unknown
from graphs.actions import default_registry, send_email
from graphs.addresses import Allowlist
from graphs.outbound import NoAnswer
from graphs.outcomes import Declined
from tests.fakes.smtp import FakeSMTP
from tests.fakes.trickle import TrickleServer
from tests.support.bounded import ended_within
from tests.support.tls import self_signed


def registry(posted=None):
    posted = [] if posted is None else posted
    return default_registry(lambda c, t: posted.append((c, t)) or "ok", None, "bot@x")


def test_validation_is_per_parameter():
    r = registry()
    assert r.validate("send_email", {"to": "a@b.co", "subject": "s", "body": "b"}) == {}
    errors = r.validate("send_email", {"to": "nope", "subject": "", "body": "b"})
    assert set(errors) == {"to", "subject"}
    assert "JSON" in r.validate("call_webhook", {"url": "https://x", "payload": "{"})["payload"]
    assert r.validate("post_message", {"channel": "random words", "text": "t"}).keys() == {
        "channel"
    }
    assert "action_type" in r.validate("rm_rf", {})


def test_risk_has_a_floor_the_model_cannot_lower():
    r = registry()
    assert r.risk("send_email", "low") == "medium"
    assert r.risk("send_email", "high") == "high"
    assert r.risk("unknown", "low") == "high"
    assert r.risk("check_url", "bogus") == "high"


def test_check_url_is_low_risk_only_for_a_url_on_the_allowlist():
    listed = default_registry(
        lambda c, t: "ok", None, "bot@x", Allowlist.from_text("https://status.example.com")
    )
    on_list = {"url": "https://status.example.com/health"}
    assert listed.risk("check_url", "low", on_list) == "low"
    assert listed.risk("check_url", "high", on_list) == "high"  # the model may raise it
    for url in (
        "https://status.example.com.evil.net/",
        "http://status.example.com/",
        "https://status.example.com:8443/",
        "http://169.254.169.254/",
        "not a url",
    ):
        assert listed.risk("check_url", "low", {"url": url}) == "medium", url
    assert listed.risk("check_url", "low") == "medium"  # no parameters: not on the list
    # With no allowlist, every check waits for a person.
    assert registry().risk("check_url", "low", on_list) == "medium"


def test_email_without_smtp_says_which_variable_to_set():
    import pytest

    with pytest.raises(RuntimeError, match="SMTP_URL"):
        registry().run("send_email", {"to": "a@b.co", "subject": "s", "body": "b"})


def test_an_smtp_server_answering_a_byte_at_a_time_is_cut_off_at_the_deadline():
    """Each read gets a byte within its 15 s, so only a deadline for the whole exchange ends it;
    cut off, the email's outcome is unknown (a TimeoutError), never "certainly not sent"."""
    greeting = b"220 mail.example.com ESMTP ready\r\n"
    with TrickleServer(every=0.3, answer=greeting, greet=True) as server:
        started = time.monotonic()
        with pytest.raises(NoAnswer):
            send_email(
                f"smtp://127.0.0.1:{server.base_url.rsplit(':', 1)[1]}",
                "agent@example.com",
                {"to": "ops@example.com", "subject": "s", "body": "b"},
                deadline=1.0,
            )
        assert 0.9 <= time.monotonic() - started < 3
        assert outcome_unknown(NoAnswer("no answer within 1 s"))


def test_a_mail_server_whose_name_does_not_resolve_in_time_is_given_up_on_at_the_deadline(
    hanging_dns,
):
    """getaddrinfo has no timeout, and the deadline has no socket to shut down while the name is
    looked up: the lookup is bounded on its own, within the same deadline."""
    took, raised = ended_within(
        3.0,
        lambda: send_email(
            "smtp://mail.dns-hangs.test:25",
            "agent@example.com",
            {"to": "ops@example.com", "subject": "s", "body": "b"},
            deadline=1.0,
        ),
    )
    assert hanging_dns.is_set()
    assert isinstance(raised, NoAnswer) and str(raised) == "no answer within 1 s"
    assert 1.0 <= took < 3.0  # bounded: the peer holds it far longer


MAIL = {"to": "ops@example.com", "subject": "Deploy done", "body": "All green."}


def test_email_over_smtps_reaches_a_server_whose_certificate_is_trusted(tmp_path, monkeypatch):
    certificate = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))  # as a deployment's CA bundle
    with FakeSMTP(tls=certificate.server_context()) as smtp:
        assert smtp.url.startswith("smtps://127.0.0.1:")
        said = send_email(smtp.url, "agent@example.com", MAIL, deadline=10.0)
        [mail] = smtp.wait_for_messages(1)
    assert said == "Email sent to ops@example.com with subject 'Deploy done'"
    assert (mail.rcpt_to, mail.message["Subject"]) == (("ops@example.com",), "Deploy done")


def test_a_password_with_characters_a_url_reserves_logs_in_when_percent_encoded(
    tmp_path, monkeypatch
):
    # An AWS SES SMTP password is base64: "/" and "+" are common. Percent-encoded in SMTP_URL,
    # it reaches the server as it is.
    password = "BPq7s3cr3t/AbcRest+x%yz"
    certificate = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))
    login = ("AKIAEXAMPLE", password)
    with FakeSMTP(tls=certificate.server_context(), login=login) as smtp:
        url = smtp.url.replace("://", f"://AKIAEXAMPLE:{quote(password, safe='')}@")
        send_email(url, "agent@example.com", MAIL, deadline=10.0)
        smtp.wait_for_messages(1)
        assert smtp.logins == ["AKIAEXAMPLE"]
        wrong = smtp.url.replace("://", "://AKIAEXAMPLE:guess@")
        # 535 is final: not sent, and a retry would be refused again (no password in the why).
        with pytest.raises(Declined, match="^refused: the mail server answered 535 .* login$"):
            send_email(wrong, "agent@example.com", MAIL, deadline=10.0)
        assert len(smtp.messages) == 1


@pytest.mark.parametrize(
    "url",
    [
        "smtp://AKIAEXAMPLE:BPq7s3cr3tPart/AbcRest@127.0.0.1:587",  # "/" not encoded
        "smtp://AKIAEXAMPLE:BPq7s3cr3tPart@127.0.0.1:notaport",
        "http://AKIAEXAMPLE:BPq7s3cr3tPart@127.0.0.1:587",
        "smtp://AKIAEXAMPLE:BPq7s3cr3tPart@",
    ],
)
def test_a_mail_server_url_that_cannot_be_read_is_refused_without_repeating_it(url):
    # (Start-up refuses it the same way: tests/test_config.py.)
    with pytest.raises(ValueError) as refused:
        send_email(url, "agent@example.com", MAIL, deadline=10.0)
    assert "SMTP_URL" in str(refused.value) and "BPq7s3cr3t" not in str(refused.value)


def test_email_over_smtps_refuses_a_server_it_cannot_verify(tmp_path):
    # No CA bundle naming the fake's certificate: smtplib alone would send anyway.
    certificate = self_signed(tmp_path)
    with FakeSMTP(tls=certificate.server_context()) as smtp:
        with pytest.raises(ssl.SSLCertVerificationError):
            send_email(smtp.url, "agent@example.com", MAIL, deadline=10.0)
        assert smtp.messages == []


def test_an_email_the_server_accepted_is_sent_even_if_quit_is_answered_421(caplog):
    """250 after DATA: the server took the message. Its answer to QUIT (a 421 "closing") cannot
    unsend it, so it is logged, never raised (raised, it read as "not sent" and was sent again)."""
    with FakeSMTP(quit_reply=(421, "4.3.2 Service shutting down")) as smtp:
        said = send_email(smtp.url, "agent@example.com", MAIL, deadline=10.0)
        [mail] = smtp.wait_for_messages(1)
    assert said == "Email sent to ops@example.com with subject 'Deploy done'"
    assert mail.rcpt_to == ("ops@example.com",)
    assert "answer to QUIT was not 221" in caplog.text


def test_an_email_some_of_whose_recipients_are_refused_says_which():
    params = {**MAIL, "to": "ops@example.com, gone@example.com"}
    with FakeSMTP(refuse={"gone@example.com"}) as smtp:
        said = send_email(smtp.url, "agent@example.com", params, deadline=10.0)
        [mail] = smtp.wait_for_messages(1)
    assert mail.rcpt_to == ("ops@example.com",)
    assert said == (
        "Email sent to ops@example.com, gone@example.com with subject 'Deploy done'; "
        "the server refused gone@example.com (550)"
    )


HIDDEN = [
    "x<ceo>@corp.example",  # smtplib: the local mailbox "ceo"
    "ops@[10.0.0.5].corp.example",  # smtplib: the domain literal [10.0.0.5]
    "=?utf-8?q?ceo=40corp.example?=<evil@x.example>",  # reads ceo@corp.example, goes to evil
]


@pytest.mark.parametrize("to", HIDDEN)
def test_an_address_that_is_not_what_it_spells_is_refused_by_the_action_and_the_form(to):
    from bot.agents.forms import read
    from bot.domain.review import FormField

    problem = "Enter one or more email addresses, separated by commas."
    assert registry().validate("send_email", {"to": to, "subject": "s", "body": "b"}) == {
        "to": problem
    }
    assert read((FormField("to", "To", "email"),), {"to": to}) == ({}, {"to": problem})


@pytest.mark.parametrize("to", HIDDEN)
def test_send_email_itself_sends_nothing_to_an_address_that_is_not_what_it_spells(to):
    with FakeSMTP() as smtp:
        with pytest.raises(ValueError, match="email addresses"):
            send_email(smtp.url, "agent@example.com", {**MAIL, "to": to}, deadline=10.0)
        assert smtp.messages == []


def test_the_envelope_is_exactly_the_checked_addresses():
    with FakeSMTP() as smtp:
        registry_ = default_registry(lambda c, t: "", smtp.url, "agent@example.com")
        said = registry_.run("send_email", {**MAIL, "to": " ops@example.com ,dev@example.org"})
        [mail] = smtp.wait_for_messages(1)
    assert mail.rcpt_to == ("ops@example.com", "dev@example.org")
    assert mail.message["To"] == "ops@example.com, dev@example.org"
    assert said == "Email sent to ops@example.com, dev@example.org with subject 'Deploy done'"


def test_a_webhook_payload_must_be_json_no_reader_refuses():
    for payload in ('{"amount": NaN}', '{"amount": Infinity}', '{"amount": 1e999}'):
        errors = registry().validate("call_webhook", {"url": "https://x", "payload": payload})
        assert errors["payload"].startswith("Not valid JSON: "), payload
