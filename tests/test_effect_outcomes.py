"""Unknown means unknown: what the ledger does with each answer of a real (loopback) webhook,
and of the fake Slack to a post.

Every test drives ``Ledger.once`` the way a graph's ``execute`` node does, and calls it again
the way the recovery sweep would, with a clock it moves by hand (no sleeps).
"""

from __future__ import annotations

import base64
import smtplib
import socket
import threading
import urllib.error
from collections.abc import Callable, Iterator
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from bot.core.backoff import BASE, CAP, backoff
from bot.core.effect_trail import EffectTrail
from bot.core.ledger import MAX_ATTEMPTS, EffectRetry, EffectTry, Ledger
from bot.slack.client import MESSAGE_LIMIT, Slack
from bot.slack.errors import not_done, uncertain
from bot.slack.web_client import make_client
from bot.store.audit_log import Audit
from bot.store.db import Database, open_database
from graphs.actions import ActionRegistry, default_registry
from graphs.addresses import Allowlist
from graphs.outcomes import TryAgain
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.webhook import FakeWebhook

KEY = "thread-1:execute"
UNKNOWN_502 = (
    "outcome unknown: the server answered HTTP 502 Bad Gateway after receiving the call; "
    "not repeated"
)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'bot.db'}"
    else:
        url = request.getfixturevalue("postgres_url")
    database = open_database(url)
    yield database
    database.close()  # an unclosed pool is collected later, from its own thread


@pytest.fixture
def hook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as server:
        yield server


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tries() -> list[EffectTry]:
    return []


@pytest.fixture
def ledger(db: Database, clock: Clock, tries: list[EffectTry]) -> Ledger:
    return Ledger(db, clock, observe=tries.append, rand=lambda: 0.5)


def actions(hook: FakeWebhook, idempotent: bool = False) -> ActionRegistry:
    listed = Allowlist.from_text(hook.base_url)  # loopback: reachable only when listed
    declared = listed if idempotent else Allowlist()
    return default_registry(
        lambda c, t: "posted", None, "a@b.c", listed, webhook_idempotent=declared
    )


def webhook(registry: ActionRegistry, hook: FakeWebhook) -> Callable[[], str]:
    return lambda: registry.run("call_webhook", {"url": hook.url(), "payload": '{"n": 1}'})


def sweep_later(clock: Clock, seconds: float = CAP + 1) -> None:
    clock.now += seconds


def test_a_webhook_that_acts_then_answers_502_is_called_once_and_reported_unknown(
    ledger: Ledger, hook: FakeWebhook, clock: Clock, tries: list[EffectTry]
) -> None:
    hook.answer_next(502, acted=True)
    run = webhook(actions(hook), hook)
    assert ledger.once(KEY, run) == UNKNOWN_502
    sweep_later(clock)
    assert ledger.once(KEY, run) == UNKNOWN_502  # the sweep finds it settled: not sent again
    assert len(hook.hits()) == 1 and len(hook.performed()) == 1
    assert [(t.attempt, t.outcome) for t in tries] == [(1, "unknown")]


@pytest.mark.parametrize("status", [500, 503, 504, 307, 409])
def test_other_error_answers_after_sending_are_unknown_too(
    ledger: Ledger, hook: FakeWebhook, clock: Clock, status: int
) -> None:
    hook.answer_next(status, acted=True)
    run = webhook(actions(hook), hook)
    result = ledger.once(KEY, run)
    assert result.startswith(f"outcome unknown: the server answered HTTP {status} ")
    assert result.endswith("not repeated")
    sweep_later(clock)
    ledger.once(KEY, run)
    assert len(hook.hits()) == 1


def test_an_idempotent_webhook_that_answers_503_first_is_retried_with_the_same_key(
    ledger: Ledger, hook: FakeWebhook, clock: Clock, tries: list[EffectTry]
) -> None:
    hook.honours_keys = True
    hook.answer_next(503, acted=False)
    run = webhook(actions(hook, idempotent=True), hook)
    with pytest.raises(EffectRetry, match="will retry in 22 s"):
        ledger.once(KEY, run)  # backoff(1) with rand 0.5: 15 + 7.5 s
    # The sweep comes back before the backoff has passed: nothing is sent.
    clock.now += 20
    with pytest.raises(EffectRetry, match="next try in 2 s"):
        ledger.once(KEY, run)
    assert len(hook.hits()) == 1
    clock.now += 3
    assert ledger.once(KEY, run) == f"Webhook {hook.url()} answered HTTP 200 OK"
    first, second = hook.hits()
    key = first.headers["idempotency-key"]
    assert len(key) == 32 and second.headers["idempotency-key"] == key
    assert hook.performed() == [second]
    sweep_later(clock)
    ledger.once(KEY, run)
    assert len(hook.hits()) == 2  # done: never again
    assert [(t.attempt, t.outcome, t.wait) for t in tries] == [
        (1, "retry", 22.5),
        (2, "done", None),
    ]


def test_a_webhook_that_acted_and_answered_503_with_its_key_acts_once(
    ledger: Ledger, hook: FakeWebhook, clock: Clock
) -> None:
    """The retry is safe because of the key: the far side recognises the repeat."""
    hook.honours_keys = True
    hook.answer_next(503, acted=True)
    run = webhook(actions(hook, idempotent=True), hook)
    with pytest.raises(EffectRetry):
        ledger.once(KEY, run)
    sweep_later(clock)
    assert ledger.once(KEY, run).endswith("answered HTTP 200 OK")
    assert len(hook.hits()) == 2 and len(hook.performed()) == 1


def test_the_same_503_from_a_webhook_not_declared_idempotent_is_unknown(
    ledger: Ledger, hook: FakeWebhook, clock: Clock
) -> None:
    hook.answer_next(503, acted=False)
    run = webhook(actions(hook), hook)
    assert ledger.once(KEY, run).startswith("outcome unknown: the server answered HTTP 503")
    sweep_later(clock)
    ledger.once(KEY, run)
    assert len(hook.hits()) == 1
    assert "idempotency-key" in hook.hits()[0].headers  # sent anyway: harmless if ignored


@pytest.mark.parametrize("status", [408, 425, 429])
def test_not_processed_answers_are_retried_whatever_the_target(
    ledger: Ledger, hook: FakeWebhook, clock: Clock, status: int
) -> None:
    hook.answer_next(status, acted=False)
    run = webhook(actions(hook), hook)
    with pytest.raises(EffectRetry):
        ledger.once(KEY, run)
    sweep_later(clock)
    assert ledger.once(KEY, run).endswith("answered HTTP 200 OK")
    assert len(hook.hits()) == 2 and len(hook.performed()) == 1


@pytest.mark.parametrize("idempotent", [False, True])
def test_a_definite_refusal_is_reported_once_and_not_retried(
    ledger: Ledger, hook: FakeWebhook, clock: Clock, tries: list[EffectTry], idempotent: bool
) -> None:
    hook.answer_next(403, acted=False)
    run = webhook(actions(hook, idempotent), hook)
    result = "Failed: refused: the server answered HTTP 403 Forbidden"
    assert ledger.once(KEY, run) == result
    sweep_later(clock)
    assert ledger.once(KEY, run) == result
    assert len(hook.hits()) == 1
    assert [t.outcome for t in tries] == ["refused"]


def test_a_refused_connection_is_certainly_not_done_and_retried(
    ledger: Ledger, hook: FakeWebhook, clock: Clock
) -> None:
    with socket.socket() as closed:  # a loopback port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    registry = default_registry(lambda c, t: "", None, "a@b.c", Allowlist.from_text(url))

    def run() -> str:
        return registry.run("call_webhook", {"url": url + "/hook", "payload": "{}"})

    with pytest.raises(EffectRetry, match="could not connect"):
        ledger.once(KEY, run)


def test_check_url_is_a_get_and_retries_an_error_answer(
    ledger: Ledger, hook: FakeWebhook, clock: Clock
) -> None:
    hook.answer_next(502, acted=False)
    registry = actions(hook)

    def run() -> str:
        return registry.run("check_url", {"url": hook.url()})

    with pytest.raises(EffectRetry, match="HTTP 502 Bad Gateway"):
        ledger.once(KEY, run)
    sweep_later(clock)
    assert ledger.once(KEY, run) == f"{hook.url()} answered HTTP 200 OK"
    assert [h.method for h in hook.hits()] == ["GET", "GET"]


def test_a_retried_effect_gives_up_after_its_attempts(
    ledger: Ledger, hook: FakeWebhook, clock: Clock, tries: list[EffectTry]
) -> None:
    hook.status = 429
    run = webhook(actions(hook), hook)
    for _ in range(MAX_ATTEMPTS - 1):
        with pytest.raises(EffectRetry):
            ledger.once(KEY, run)
        sweep_later(clock)
    result = ledger.once(KEY, run)
    assert result.endswith(f"(gave up after {MAX_ATTEMPTS} attempts)")
    assert len(hook.hits()) == MAX_ATTEMPTS
    waits = [t.wait for t in tries if t.outcome == "retry"]
    assert waits == [backoff(n, lambda: 0.5) for n in range(1, MAX_ATTEMPTS)]
    assert tries[-1].outcome == "gave_up"


def http_error(code: int) -> urllib.error.HTTPError:
    return urllib.error.HTTPError("http://x/", code, "phrase", Message(), None)


def test_a_plain_urllib_error_of_ones_own_graph_is_judged_the_same_way(
    ledger: Ledger, clock: Clock
) -> None:
    def raising(code: int) -> Callable[[], str]:
        def run() -> str:
            raise http_error(code)

        return run

    assert ledger.once("a:1", raising(502)).startswith("Outcome unknown (HTTP Error 502")
    assert ledger.once("a:2", raising(404)) == "Failed: HTTP Error 404: phrase"
    with pytest.raises(EffectRetry):
        ledger.once("a:3", raising(429))


# backoff ------------------------------------------------------------------------------------
def test_backoff_grows_and_is_jittered_within_its_bounds() -> None:
    lows = [backoff(n, lambda: 0.0) for n in range(1, 8)]
    highs = [backoff(n, lambda: 1.0) for n in range(1, 8)]
    assert lows[:4] == [BASE / 2, BASE, 2 * BASE, 4 * BASE]
    assert highs[:4] == [BASE, 2 * BASE, 4 * BASE, 8 * BASE]
    assert max(highs) == CAP and max(lows) == CAP / 2  # capped
    assert all(a < b for a, b in zip(lows[:5], lows[1:5], strict=False))
    draws = iter([0.1, 0.9])
    assert backoff(3, lambda: next(draws)) != backoff(3, lambda: next(draws))


# the trail ----------------------------------------------------------------------------------
def test_tries_go_to_the_audit_trail_and_the_metrics(db: Database, clock: Clock) -> None:
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    audit = Audit(db, clock)
    trail = EffectTrail(registry)
    ledger = Ledger(db, clock, observe=trail, rand=lambda: 0.5, audited=trail.entry)

    def unavailable() -> str:
        raise TryAgain("the server answered HTTP 503 Service Unavailable")

    with pytest.raises(EffectRetry):
        ledger.once(KEY, unavailable)
    sweep_later(clock)
    ledger.once(KEY, lambda: "sent")
    events = audit.for_run("thread-1")
    assert [(e.event, e.detail["attempt"], e.detail["outcome"]) for e in events] == [
        ("effect", 1, "retry"),
        ("effect", 2, "done"),
    ]
    assert events[0].detail["wait"] == backoff(1, lambda: 0.5)
    assert "503" in events[0].detail["detail"]
    assert registry.get_sample_value("effect_tries_total", {"outcome": "retry"}) == 1.0
    assert registry.get_sample_value("effect_tries_total", {"outcome": "done"}) == 1.0


def test_an_unknown_outcome_after_a_retry_says_which_attempt_it_was(
    ledger: Ledger, hook: FakeWebhook, clock: Clock
) -> None:
    hook.answer_next(429, acted=False)
    hook.answer_next(502, acted=True)
    run = webhook(actions(hook), hook)
    with pytest.raises(EffectRetry):
        ledger.once(KEY, run)
    sweep_later(clock)
    assert ledger.once(KEY, run) == UNKNOWN_502 + " (on attempt 2)"
    sweep_later(clock)
    ledger.once(KEY, run)
    assert len(hook.hits()) == 2 and len(hook.performed()) == 1


# Slack's answers to a post the graph makes (the post_message action, a draft's post) -----------


@pytest.fixture
def slack_ledger(db: Database, clock: Clock, tries: list[EffectTry]) -> Ledger:
    """The ledger as the bot wires it, with Slack's own "did nothing" and "may have"."""
    return Ledger(
        db, clock, observe=tries.append, rand=lambda: 0.5, retryable=not_done, unknown=uncertain
    )


def slack_post(fake_slack: FakeSlack) -> Callable[[], str]:
    slack = Slack(make_client(fake_slack.bot_token, fake_slack.api_url))  # the bot's client
    return lambda: slack.post_text("C0GEN", "The VPN is down tonight")


@pytest.mark.parametrize(
    ("status", "error"),
    [(500, "internal_error"), (200, "internal_error"), (200, "fatal_error"), (502, "bad_gateway")],
)
def test_a_slack_post_that_may_have_landed_is_sent_once_and_reported_unknown(
    slack_ledger: Ledger,
    fake_slack: FakeSlack,
    clock: Clock,
    tries: list[EffectTry],
    status: int,
    error: str,
) -> None:
    """Slack's internal_error and fatal_error say "some aspect of the operation" may have
    succeeded; a 5xx from its gateway says nothing either way. The post is there, once."""
    fake_slack.fail_next("chat.postMessage", status=status, error=error, acted=True)
    post = slack_post(fake_slack)
    result = slack_ledger.once(KEY, post)
    assert result.startswith("Outcome unknown (") and result.endswith("happens at most once")
    sweep_later(clock)
    assert slack_ledger.once(KEY, post) == result  # the sweep finds it settled
    assert len(fake_slack.calls("chat.postMessage")) == 1  # slack_sdk did not repeat it either
    assert [m["text"] for m in fake_slack.messages("C0GEN")] == ["The VPN is down tonight"]
    assert [(t.attempt, t.outcome) for t in tries] == [(1, "unknown")]


def test_a_long_post_cut_short_after_its_first_part_is_not_posted_again(
    slack_ledger: Ledger, fake_slack: FakeSlack, clock: Clock, tries: list[EffectTry]
) -> None:
    """A text longer than one message goes out in parts, one post each: once a part is in the
    channel, a later part Slack answered "did nothing" makes the whole effect partial, not
    retried (a retry would post the first part again)."""
    slack = Slack(make_client(fake_slack.bot_token, fake_slack.api_url))
    text = "A" * (MESSAGE_LIMIT - 10) + "\n\n" + "B" * 100
    first_part = slack.client.chat_postMessage

    def then_unavailable(**params: Any) -> Any:
        answer = first_part(**params)  # in the channel; Slack is unavailable for the next part
        fake_slack.fail_next("chat.postMessage", status=503, error="service_unavailable", times=9)
        return answer

    slack.client.chat_postMessage = then_unavailable  # type: ignore[method-assign]

    def post() -> str:
        return slack.post_text("C0GEN", text)

    result = slack_ledger.once(KEY, post)
    assert result.startswith("posted 1 of 2 parts to C0GEN, then Slack answered ")
    assert result.endswith("; the rest was not posted, and nothing is posted again")
    sweep_later(clock)
    assert slack_ledger.once(KEY, post) == result
    firsts = [m for m in fake_slack.messages("C0GEN") if m["text"].startswith("AAAA")]
    assert len(firsts) == 1
    assert [(t.attempt, t.outcome) for t in tries] == [(1, "unknown")]


def test_a_slack_post_answered_unavailable_did_nothing_and_is_posted_by_a_later_try(
    slack_ledger: Ledger, fake_slack: FakeSlack, clock: Clock, tries: list[EffectTry]
) -> None:
    """503 (and ok: false with any other error) says Slack did nothing: slack_sdk tries it
    again at once, and past those tries the recovery sweep does, after its backoff."""
    fake_slack.fail_next("chat.postMessage", status=503, error="service_unavailable", times=5)
    post = slack_post(fake_slack)
    with pytest.raises(EffectRetry):
        slack_ledger.once(KEY, post)
    assert len(fake_slack.calls("chat.postMessage")) == 4  # the first and slack_sdk's three
    sweep_later(clock)
    assert slack_ledger.once(KEY, post).startswith("Posted to C0GEN (message ")
    assert [m["text"] for m in fake_slack.messages("C0GEN")] == ["The VPN is down tonight"]
    assert [(t.attempt, t.outcome) for t in tries] == [(1, "retry"), (2, "done")]


EMAIL = {"to": "ceo@example.com", "subject": "Quarterly numbers", "body": "Attached."}


def test_an_email_the_server_accepted_is_sent_once_whatever_it_answers_to_quit(
    ledger: Ledger, clock: Clock, tries: list[EffectTry]
) -> None:
    """A 421 to QUIT after the 250 to the message: sent, once, and reported sent."""
    with FakeSMTP(quit_reply=(421, "4.3.2 Service shutting down")) as smtp:
        registry = default_registry(lambda c, t: "", smtp.url, "bot@example.com")

        def run() -> str:
            return registry.run("send_email", EMAIL)

        result = ledger.once(KEY, run)
        sweep_later(clock)
        assert ledger.once(KEY, run) == result  # the sweep finds it done
        assert len(smtp.messages) == 1
    assert result == "Email sent to ceo@example.com with subject 'Quarterly numbers'"
    assert tries == []


@pytest.mark.parametrize(
    ("error", "outcome"),
    [
        # Refused before the server took the message: nothing was sent, try again.
        (smtplib.SMTPSenderRefused(451, b"try later", "bot@example.com"), "retry"),
        (smtplib.SMTPRecipientsRefused({"ceo@example.com": (450, b"busy")}), "retry"),
        (smtplib.SMTPDataError(451, b"4.3.0 try again later"), "retry"),
        (smtplib.SMTPHeloError(421, b"closing"), "retry"),
        (smtplib.SMTPAuthenticationError(454, b"try later"), "retry"),
        (smtplib.SMTPNotSupportedError("no SMTPUTF8"), "retry"),
        (smtplib.SMTPConnectError(421, b"too busy"), "retry"),
        (
            smtplib.SMTPRecipientsRefused({"a@x.co": (550, b"gone"), "b@x.co": (450, b"busy")}),
            "retry",
        ),
        # Refused for good before the server took it: nothing was sent, and never will be.
        (smtplib.SMTPConnectError(554, b"no service"), "refused"),
        (smtplib.SMTPHeloError(501, b"bad name"), "refused"),
        (smtplib.SMTPAuthenticationError(535, b"5.7.8 bad credentials"), "refused"),
        (smtplib.SMTPSenderRefused(550, b"5.7.1 sender blocked", "bot@example.com"), "refused"),
        (smtplib.SMTPRecipientsRefused({"ceo@example.com": (550, b"no such user")}), "refused"),
        (smtplib.SMTPDataError(554, b"5.7.1 rejected"), "refused"),
        # The message may have been taken: a 2xx other than 250 to it, a hang-up during DATA.
        (smtplib.SMTPDataError(252, b"queued, maybe"), "unknown"),
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), "unknown"),
        # Any other answer (the goodbye's, say) proves nothing was sent: reported once.
        (smtplib.SMTPResponseException(421, b"closing"), "failed"),
    ],
)
def test_only_smtp_errors_before_the_message_was_accepted_are_retried(
    ledger: Ledger, tries: list[EffectTry], error: Exception, outcome: str
) -> None:
    def run() -> str:
        raise error

    if outcome == "retry":
        with pytest.raises(EffectRetry):
            ledger.once(KEY, run)
    else:
        ledger.once(KEY, run)
    assert [t.outcome for t in tries] == [outcome]


@pytest.mark.parametrize(
    ("stage", "reply", "said"),
    [
        (
            "greeting",
            (554, "5.3.2 No service for you"),
            "554 5.3.2 No service for you to the greeting",
        ),
        (
            "EHLO",
            (550, "5.7.1 Not from your network"),
            "550 5.7.1 Not from your network to the EHLO",
        ),
        ("MAIL", (550, "5.7.1 Sender blocked"), "550 5.7.1 Sender blocked to the sender"),
        ("DATA", (554, "5.7.1 No DATA for you"), "554 5.7.1 No DATA for you to the message"),
        ("message", (554, "5.7.1 Looks like spam"), "554 5.7.1 Looks like spam to the message"),
    ],
)
def test_a_mail_server_refusing_for_good_before_taking_the_message_is_reported_at_once(
    ledger: Ledger,
    clock: Clock,
    tries: list[EffectTry],
    stage: str,
    reply: tuple[int, str],
    said: str,
) -> None:
    """A 5xx before the message was accepted: not sent, and a retry would be refused again."""
    with FakeSMTP(refuse_at={stage: reply}) as smtp:
        registry = default_registry(lambda c, t: "", smtp.url, "bot@example.com")

        def run() -> str:
            return registry.run("send_email", EMAIL)

        result = ledger.once(KEY, run)
        sweep_later(clock)
        assert ledger.once(KEY, run) == result  # the sweep finds it over, not to be retried
        assert smtp.messages == []
    assert result == f"Failed: refused: the mail server answered {said}"
    assert [t.outcome for t in tries] == ["refused"]


def test_a_mail_server_refusing_every_recipient_for_good_says_who_and_why(
    ledger: Ledger, tries: list[EffectTry]
) -> None:
    with FakeSMTP(refuse={"ceo@example.com"}) as smtp:
        registry = default_registry(lambda c, t: "", smtp.url, "bot@example.com")
        result = ledger.once(KEY, lambda: registry.run("send_email", EMAIL))
    assert result == (
        "Failed: refused: the mail server refused every recipient: "
        "ceo@example.com (550 5.1.1 No such user here)"
    )
    assert [t.outcome for t in tries] == ["refused"]


def test_a_login_refused_for_good_is_reported_at_once_without_the_password(
    ledger: Ledger, tries: list[EffectTry]
) -> None:
    """535: the server's code and words, never the credentials (a server may quote them)."""
    sent = base64.b64encode(b"\0mailer\0guess").decode()  # what AUTH PLAIN sends
    refusal = (535, f"5.7.8 Credentials {sent} invalid for guess")
    with FakeSMTP(login=("mailer", "s3cret"), refuse_at={"AUTH": refusal}) as smtp:
        url = smtp.url.replace("://", "://mailer:guess@")
        registry = default_registry(lambda c, t: "", url, "bot@example.com")
        result = ledger.once(KEY, lambda: registry.run("send_email", EMAIL))
        assert smtp.messages == []
    assert result == (
        "Failed: refused: the mail server answered "
        "535 5.7.8 Credentials [hidden] invalid for [hidden] to the login"
    )
    assert [t.outcome for t in tries] == ["refused"]


@pytest.mark.parametrize("stage", ["greeting", "MAIL", "RCPT", "DATA", "message"])
def test_a_mail_server_saying_not_now_before_taking_the_message_is_tried_again(
    ledger: Ledger, clock: Clock, tries: list[EffectTry], stage: str
) -> None:
    with FakeSMTP(refuse_at={stage: (451, "4.3.0 Try again later")}) as smtp:
        registry = default_registry(lambda c, t: "", smtp.url, "bot@example.com")
        with pytest.raises(EffectRetry, match="451"):
            ledger.once(KEY, lambda: registry.run("send_email", EMAIL))
        assert smtp.messages == []
    assert [t.outcome for t in tries] == ["retry"]


@pytest.fixture
def hangs_up() -> Iterator[str]:
    """An SMTP server that closes every connection before its greeting (a busy server does)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield f"smtp://127.0.0.1:{server.getsockname()[1]}"
    server.close()


def test_a_mail_server_hanging_up_before_its_greeting_sent_nothing_and_is_tried_again(
    ledger: Ledger, tries: list[EffectTry], hangs_up: str
) -> None:
    registry = default_registry(lambda c, t: "", hangs_up, "bot@example.com")
    with pytest.raises(EffectRetry):
        ledger.once(KEY, lambda: registry.run("send_email", EMAIL))
    assert [t.outcome for t in tries] == ["retry"]


class LosesBeginAnswer:
    """The database, but the effect's "started" mark loses its answer: it runs, then raises
    as a dropped connection would."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.lost = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)

    def execute(self, sql: str, params: Any = None) -> int:
        count = self.db.execute(sql, params)
        if "INSERT INTO effects" in sql and not self.lost:
            self.lost += 1
            raise ConnectionError("server closed the connection unexpectedly")
        return count


def test_a_start_mark_whose_answer_was_lost_is_put_back_and_the_effect_sent_once(
    db: Database, clock: Clock
) -> None:
    sent: list[str] = []
    send = lambda: sent.append("sent") or "sent"  # noqa: E731
    ledger = Ledger(LosesBeginAnswer(db), clock)  # type: ignore[arg-type]
    with pytest.raises(EffectRetry):
        ledger.once(KEY, send)
    assert sent == []
    assert ledger.once(KEY, send) == "sent"
    assert sent == ["sent"]


def test_a_start_mark_left_by_a_call_under_way_is_never_put_back(
    db: Database, clock: Clock
) -> None:
    """Another process's call began (and may be under way, or it died mid-call): a later try
    whose own mark lost its answer does not make that one "not started"."""
    sent: list[str] = []
    send = lambda: sent.append("sent") or "sent"  # noqa: E731
    first = Ledger(db, clock)
    first._begin(KEY)  # the call that began, and whose process died mid-call
    clock.now += 60
    ledger = Ledger(LosesBeginAnswer(db), clock)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        ledger.once(KEY, send)
    assert ledger.once(KEY, send).startswith("outcome unknown")
    assert sent == []


class LosesBeginAnswerAndThenTheServer(LosesBeginAnswer):
    """... and the server is gone a moment longer: the next statement (putting the mark back)
    cannot reach it either, as when the server restarts under the connection."""

    def execute(self, sql: str, params: Any = None) -> int:
        if "AND updated_at = %(now)s" in sql and self.lost == 1:
            self.lost += 1
            raise ConnectionError("connection refused")
        return super().execute(sql, params)


def test_a_lost_start_mark_that_could_not_be_put_back_at_once_is_put_back_by_the_next_try(
    db: Database, clock: Clock
) -> None:
    sent: list[str] = []
    send = lambda: sent.append("sent") or "sent"  # noqa: E731
    ledger = Ledger(LosesBeginAnswerAndThenTheServer(db), clock)  # type: ignore[arg-type]
    with pytest.raises(ConnectionError):
        ledger.once(KEY, send)
    assert sent == []
    clock.now += 60  # the server is back; the decision is tried again
    assert ledger.once(KEY, send) == "sent"  # never sent before: not "outcome unknown"
    assert sent == ["sent"]
