"""The ``action`` graph end to end: the planner proposes a real action, a person approves, edits
or rejects it on the card, and only what was decided reaches the (fake) SMTP, webhook or Slack."""

from __future__ import annotations

import json

import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from tests.support.cards import Card, blocks_text, current, has_buttons, wait_card
from tests.support.databases import sqlite_unless_asked  # noqa: F401 - database_url
from tests.support.forms import by_name

REQ = "U0REQ"
EMAIL = {"to": "ops@example.com", "subject": "Q3 numbers", "body": "Revenue < plan & rising"}
BAD_EMAIL = "Enter one or more email addresses, separated by commas."


@pytest.fixture
def action_bot(bot_in_process, fake_smtp, fake_webhook):
    """Start the bot with email and webhooks wired to the fakes; extra env as keywords."""

    def start(**env: str):
        return bot_in_process(
            SMTP_URL=fake_smtp.url,
            EMAIL_FROM="agent@example.com",
            WEBHOOK_ALLOWLIST=fake_webhook.base_url,
            **env,
        )

    return start


def propose(action_type: str, risk: str, description: str, **parameters: str) -> str:
    """`/agent` text that makes the (fake) planner propose exactly this action."""
    proposal = {
        "action_type": action_type,
        "description": description,
        "parameters": [{"name": k, "value": v} for k, v in parameters.items()],
        "risk_level": risk,
    }
    return "[action] " + json.dumps(proposal)


def section_texts(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b.get("type") == "section" and "text" in b]


def thread_report(fake_slack, card: Card) -> str:
    """The run's report under the card (an edit's before-and-after note is not it)."""

    def reported(call) -> bool:
        note = str(call.params.get("text") or "").startswith("✏️")
        return call.params["thread_ts"] == card.ts and not note

    [report] = fake_slack.wait_for("chat.postMessage", reported)
    return report.params["text"]


def send_email_card(bot, fake_slack, risk: str = "high") -> Card:
    bot.command(propose("send_email", risk, "Mail the Q3 numbers to ops", **EMAIL))
    return wait_card(fake_slack)


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_approved_email_is_sent_once_and_reported_in_the_thread(
    database_url, action_bot, fake_slack, fake_smtp
):
    bot = action_bot()
    card = send_email_card(bot, fake_slack)

    fields = next(b["fields"] for b in card.blocks if "fields" in b)
    assert [f["text"] for f in fields] == ["*Action*\n`send_email`", "*Risk*\n🔴 High"]
    texts = section_texts(card.blocks)
    assert "Mail the Q3 numbers to ops" in texts
    # Parameters are shown, escaped: the model's text never becomes Slack markup.
    assert (
        "*to*: `ops@example.com`\n*subject*: `Q3 numbers`\n*body*: `Revenue &lt; plan &amp; rising`"
        in texts
    )
    assert fake_smtp.messages == []

    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200

    report = thread_report(fake_slack, card)
    assert report == "send_email: Email sent to ops@example.com with subject 'Q3 numbers'"
    [mail] = fake_smtp.messages
    assert (mail.mail_from, mail.rcpt_to) == ("agent@example.com", ("ops@example.com",))
    assert mail.message["From"] == "agent@example.com"
    assert mail.message["To"] == "ops@example.com"
    assert mail.message["Subject"] == "Q3 numbers"
    assert mail.body == "Revenue < plan & rising\n"  # the email itself is not escaped
    decided = current(fake_slack, card)
    assert not has_buttons(decided)
    assert "Approved* by <@U0REQ>" in blocks_text(decided["blocks"])


def test_edit_validates_inline_and_sends_the_edited_email(action_bot, fake_slack, fake_smtp):
    bot = action_bot()
    card = send_email_card(bot, fake_slack)

    bot.click(ids.EDIT, card.approval_id, REQ)
    view = fake_slack.wait_for("views.open")[0].params["view"]
    assert view["callback_id"] == modals.EDIT_ACTION
    assert view["private_metadata"].startswith(f"{card.approval_id}:1:")
    inputs = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    # plain_text_input: raw text, not mrkdwn-escaped
    assert {k: e["initial_value"] for k, e in inputs.items()} == by_name(EMAIL, EMAIL)
    to, body = by_name(EMAIL, {"to": 0, "body": 0})
    assert inputs[body]["multiline"] and not inputs[to]["multiline"]

    def submit(**values: str):
        fields = by_name(EMAIL, {**EMAIL, **values})
        return bot.submit(modals.EDIT_ACTION, card.approval_id, REQ, fields)

    invalid = submit(to="ops at example dot com")
    assert invalid.json() == {"response_action": "errors", "errors": {to: BAD_EMAIL}}
    both = submit(to="a@b.co, nope", subject="  ")
    assert both.json() == {
        "response_action": "errors",
        "errors": by_name(EMAIL, {"to": BAD_EMAIL, "subject": "Subject can't be empty."}),
    }
    assert has_buttons(current(fake_slack, card))  # still waiting: nothing was decided

    ok = submit(to="cfo@example.com", subject="Q3 numbers (final)", body="Final: on plan.")
    assert ok.status_code == 200 and ok.content in (b"", b"{}")

    report = thread_report(fake_slack, card)
    assert report == (
        "send_email with edited parameters: "
        "Email sent to cfo@example.com with subject 'Q3 numbers (final)'"
    )
    [mail] = fake_smtp.messages
    assert mail.rcpt_to == ("cfo@example.com",)
    assert (mail.message["To"], mail.message["Subject"]) == (
        "cfo@example.com",
        "Q3 numbers (final)",
    )
    assert mail.body == "Final: on plan.\n"
    decided = current(fake_slack, card)["blocks"]
    assert "Edited and approved* by <@U0REQ>" in blocks_text(decided)
    # The decided card shows what was sent, and no longer says it is waiting.
    assert "*to*: `cfo@example.com`" in blocks_text(decided)
    assert "*to*: `ops@example.com`" not in blocks_text(decided)
    assert decided[0]["text"]["text"] == "⚙️ Action: edited and approved"


def test_rejected_email_is_never_sent(action_bot, fake_slack, fake_smtp):
    bot = action_bot()
    card = send_email_card(bot, fake_slack)

    bot.click(ids.REJECT, card.approval_id, REQ)
    view = fake_slack.wait_for("views.open")[0].params["view"]
    assert view["callback_id"] == modals.REJECT
    bot.submit(modals.REJECT, card.approval_id, REQ, {modals.REASON_BLOCK: "wait for audit"})

    assert thread_report(fake_slack, card) == "send_email: Not run: rejected: wait for audit."
    outcome = blocks_text(current(fake_slack, card)["blocks"])
    assert "Rejected* by <@U0REQ>" in outcome and "wait for audit" in outcome
    assert not has_buttons(current(fake_slack, card))
    assert fake_smtp.messages == []


def test_a_model_cannot_rate_an_email_low_risk(action_bot, fake_slack, fake_smtp):
    bot = action_bot()
    card = send_email_card(bot, fake_slack, risk="low")
    fields = next(b["fields"] for b in card.blocks if "fields" in b)
    assert fields[1]["text"] == "*Risk*\n🟠 Medium"  # raised to send_email's floor
    assert has_buttons(current(fake_slack, card))
    assert fake_smtp.messages == []


def test_low_risk_check_runs_without_a_card_and_tells_the_requester(
    action_bot, fake_slack, fake_webhook
):
    bot = action_bot()
    url = fake_webhook.url("/health")
    bot.command(propose("check_url", "low", "See if the status page answers", url=url))

    [told] = fake_slack.wait_for("chat.postMessage")
    assert told.params["channel"] == "C0REQ" and "thread_ts" not in told.params
    assert told.params["text"] == f"<@{REQ}> check_url: {url} answered HTTP 200 OK"
    [hit] = fake_webhook.hits()
    assert (hit.method, hit.path) == ("GET", "/health")
    assert fake_slack.calls("chat.postMessage") == [told]  # no approval card


def test_low_risk_check_is_retried_while_the_url_answers_an_error(
    action_bot, fake_slack, fake_webhook
):
    """The target said no (HTTP 503), so the check certainly did not succeed: it is retried by
    the recovery sweep, and reported once, when it answers."""
    fake_webhook.status = 503
    bot = action_bot(RETRY_AFTER="1", SCHEDULER_TICK="1")
    url = fake_webhook.url("/flaky")
    bot.command(propose("check_url", "low", "Is it up?", url=url))
    bot.tick_until(lambda: len(fake_webhook.hits("GET")) >= 2, "retry the check", advance=2)
    assert fake_slack.calls("chat.postMessage") == []  # nothing reported while retrying
    fake_webhook.status = 200
    bot.tick_until(lambda: fake_slack.calls("chat.postMessage") != [], "report", advance=2)
    [told] = fake_slack.wait_for("chat.postMessage", timeout=20)
    assert told.params["text"] == f"<@{REQ}> check_url: {url} answered HTTP 200 OK"
    assert len(fake_webhook.hits("GET")) >= 3
    assert len(fake_slack.calls("chat.postMessage")) == 1


def test_low_risk_check_reports_a_url_that_keeps_failing(action_bot, fake_slack, fake_webhook):
    fake_webhook.status = 503
    bot = action_bot(RETRY_AFTER="1", SCHEDULER_TICK="1")
    bot.command(propose("check_url", "low", "Is it up?", url=fake_webhook.url("/down")))
    bot.tick_until(lambda: fake_slack.calls("chat.postMessage") != [], "give up", advance=60)
    [told] = fake_slack.wait_for("chat.postMessage", timeout=40)
    assert told.params["text"] == (
        f"<@{REQ}> check_url: Failed: the server answered HTTP 503 Service Unavailable "
        "(gave up after 5 attempts)"
    )
    assert len(fake_webhook.hits("GET")) == 5


@pytest.mark.alone(units_beside=True)  # asserts the click's ack within 1.5 s
def test_approved_webhook_receives_the_payload_once(action_bot, fake_slack, fake_webhook):
    bot = action_bot()
    url = fake_webhook.url("/deploy")
    payload = {"event": "deploy", "service": "api", "version": 42}
    started = bot.command(
        propose("call_webhook", "medium", "Tell CD to deploy", url=url, payload=json.dumps(payload))
    )
    # Bolt takes any form body containing the word "payload" for an interactive payload= form;
    # bot/http/asgi.py re-reads such a slash command so it is not dropped unanswered.
    assert "Started run" in started.json()["text"]
    card = wait_card(fake_slack)
    fields = next(b["fields"] for b in card.blocks if "fields" in b)
    assert [f["text"] for f in fields] == ["*Action*\n`call_webhook`", "*Risk*\n🟠 Medium"]
    assert fake_webhook.hits() == []

    fake_webhook.delay = 2.0  # a slow webhook must not hold up the click's ack
    response = bot.click(ids.APPROVE, card.approval_id, REQ)
    assert response.status_code == 200
    assert response.elapsed.total_seconds() < 1.5

    assert thread_report(fake_slack, card) == f"call_webhook: Webhook {url} answered HTTP 200 OK"
    [hit] = fake_webhook.hits()
    assert (hit.method, hit.path, hit.json) == ("POST", "/deploy", payload)
    assert hit.headers["content-type"] == "application/json"


def test_approved_post_message_posts_to_the_given_channel(action_bot, fake_slack):
    bot = action_bot()
    bot.command(
        propose(
            "post_message",
            "medium",
            "Announce the deploy",
            channel="C0OPS",
            text="Deploy finished <!here>",
        )
    )
    card = wait_card(fake_slack)
    assert card.channel == "C0REQ"
    bot.click(ids.APPROVE, card.approval_id, REQ)

    [posted] = fake_slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == "C0OPS")
    assert posted.params["text"] == "Deploy finished &lt;!here&gt;"  # no live mention
    assert [m["text"] for m in fake_slack.messages("C0OPS")] == [posted.params["text"]]
    assert posted.response is not None
    ts = posted.response["ts"]
    assert thread_report(fake_slack, card) == f"post_message: Posted to C0OPS (message {ts})"
