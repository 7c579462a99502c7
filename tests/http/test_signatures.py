"""A Slack request's signature is checked once, by the HTTP transport (bot.http.asgi.is_signed,
over the raw bytes, before Bolt parses anything), not again by Bolt."""

from __future__ import annotations

import hmac
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.support import slack_requests as sr


@pytest.fixture
def bot_checks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The HMACs keyed with the signing secret that the bot computes (the test's own signing
    happens on this thread; the bot answers on others)."""
    checks: list[str] = []
    real = hmac.new

    def counting(key: bytes, msg: Any = None, digestmod: Any = None) -> hmac.HMAC:
        if key == sr.SIGNING_SECRET.encode() and threading.current_thread() is not caller:
            checks.append(threading.current_thread().name)
        return real(key, msg, digestmod)

    caller = threading.current_thread()
    monkeypatch.setattr(hmac, "new", counting)
    return checks


def test_a_signed_command_is_checked_once(bot_in_process, bot_checks):
    bot = bot_in_process()
    assert bot.command("Tell the team the signatures are checked once").status_code == 200
    assert len(bot_checks) == 1


def test_an_unsigned_command_is_refused_before_bolt(bot_in_process, bot_checks):
    bot = bot_in_process()
    body = sr.command_body("Tell the team nothing", "U0REQ", "C0REQ")
    forged = {**sr.sign(body), "X-Slack-Signature": "v0=" + "0" * 64}
    response = bot.http.post("/slack/events", content=body, headers=forged)
    assert response.status_code == 401
    assert len(bot_checks) == 1


@pytest.mark.parametrize("digits", [13, 400, 5000])
def test_a_request_with_an_absurd_timestamp_is_a_401_not_a_500(bot_in_process, digits):
    # 400 digits overflow a float comparison, 5000 pass int()'s own limit: neither may escape.
    bot = bot_in_process()
    body = sr.command_body("Tell the team nothing", "U0REQ", "C0REQ")
    headers = sr.sign(body)
    headers["X-Slack-Request-Timestamp"] = "9" * digits
    answer = bot.http.post("/slack/events", content=body, headers=headers)
    assert answer.status_code == 401


def test_a_request_refused_for_its_signature_is_said_in_the_log_once_a_minute(
    bot_in_process, caplog: pytest.LogCaptureFixture
):
    # The README's troubleshooting: "every request is refused with 401 in the log" (a wrong
    # SLACK_SIGNING_SECRET). Before, the log said nothing at all.
    bot = bot_in_process()
    body = sr.command_body("Tell the team nothing", "U0REQ", "C0REQ")
    for _ in range(3):
        answer = bot.http.post("/slack/events", content=body, headers=sr.sign(body, "wrong"))
        assert answer.status_code == 401
    said = [r.getMessage() for r in caplog.records if "SLACK_SIGNING_SECRET" in r.getMessage()]
    assert said == [
        "refused a request to /slack/events with a 401: its signature does not match "
        "SLACK_SIGNING_SECRET, or it is over 5 minutes old. If every Slack request is refused, "
        "copy the Signing Secret again (Basic Information) and restart"
    ]
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert said[0].split("…")[0][:95] in readme  # the troubleshooting row quotes it
