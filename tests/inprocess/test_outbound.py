"""What the agent may reach, end to end: the real bot, signed Slack requests, and loopback HTTP
servers standing in for the services inside the network the bot runs in.

A loopback server is exactly what an attacker would aim ``/agent action check that http://…``
at: unless ``WEBHOOK_ALLOWLIST`` names its scheme, host and port, the bot asks a person first and
then still refuses it, and the server never sees a request."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from bot.slack.blocks import card as ids
from bot.store.audit_log import Audit
from bot.store.db import open_database
from graphs.outbound import REFUSED
from tests.fakes.webhook import FakeWebhook
from tests.inprocess.test_action_graph import propose, thread_report
from tests.support.cards import blocks_text, current, has_buttons, wait_card
from tests.support.faults import leftovers, wait_until

REQ = "U0REQ"


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"  # the guard does not depend on the database


@pytest.fixture
def other_webhook() -> Iterator[FakeWebhook]:
    with FakeWebhook() as webhook:
        yield webhook


def risk_of(card) -> str:
    fields = next(b["fields"] for b in card.blocks if "fields" in b)
    return fields[1]["text"]


def test_check_url_of_an_internal_service_asks_a_person_and_is_refused_even_then(
    bot_in_process, fake_slack, fake_webhook
):
    bot = bot_in_process()  # no WEBHOOK_ALLOWLIST: nothing is reached without a person
    url = fake_webhook.url("/admin")
    bot.command(propose("check_url", "low", "See if the admin page answers", url=url))

    card = wait_card(fake_slack)  # a card, not a run: the model's "low" was raised
    assert risk_of(card) == "*Risk*\n🟠 Medium"
    assert fake_webhook.hits() == []

    bot.click(ids.APPROVE, card.approval_id, REQ)
    assert thread_report(fake_slack, card) == f"check_url: Failed: {REFUSED}"
    assert fake_webhook.hits() == []  # approved, and still not reached: it is loopback
    assert "Approved* by <@U0REQ>" in blocks_text(current(fake_slack, card)["blocks"])


def test_call_webhook_to_an_internal_service_is_refused_after_approval(
    bot_in_process, fake_slack, fake_webhook
):
    bot = bot_in_process()
    url = fake_webhook.url("/deploy")
    payload = json.dumps({"event": "deploy"})
    bot.command(propose("call_webhook", "medium", "Deploy", url=url, payload=payload))
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, REQ)

    assert thread_report(fake_slack, card) == f"call_webhook: Failed: {REFUSED}"
    assert fake_webhook.hits() == []
    assert not has_buttons(current(fake_slack, card))


def test_a_listed_origin_does_not_open_the_port_next_to_it(
    bot_in_process, fake_slack, fake_webhook, other_webhook
):
    """``WEBHOOK_ALLOWLIST=http://127.0.0.1:<a>`` used to let ``http://127.0.0.1:<a><more>`` in
    (a string prefix); now another port on the same host is simply not on the list."""
    bot = bot_in_process(WEBHOOK_ALLOWLIST=fake_webhook.base_url)
    url = other_webhook.url("/metrics")
    bot.command(propose("check_url", "low", "Is it up?", url=url))

    card = wait_card(fake_slack)  # not listed: a person is asked
    bot.click(ids.APPROVE, card.approval_id, REQ)
    report = thread_report(fake_slack, card)
    assert report == "check_url: Failed: refused: that URL is not in WEBHOOK_ALLOWLIST"
    assert other_webhook.hits() == [] and fake_webhook.hits() == []


def test_a_listed_server_that_redirects_is_reported_not_followed(
    bot_in_process, fake_slack, fake_webhook, other_webhook
):
    """Both servers are listed, so only not following the redirect keeps the second one
    unreached (a client that follows redirects does reach it: tests/test_fakes_smtp_webhook)."""
    fake_webhook.status, fake_webhook.location = 302, other_webhook.url("/secret")
    allow = f"{fake_webhook.base_url},{other_webhook.base_url}"
    bot = bot_in_process(WEBHOOK_ALLOWLIST=allow)
    url = fake_webhook.url("/health")
    bot.command(propose("check_url", "low", "Is the status page up?", url=url))

    [told] = fake_slack.wait_for("chat.postMessage")  # listed: runs without a card
    assert told.params["text"] == f"<@{REQ}> check_url: {url} answered HTTP 302 Found"
    [hit] = fake_webhook.hits()
    assert (hit.method, hit.path) == ("GET", "/health")
    assert other_webhook.hits() == []


def test_an_approved_webhook_that_redirects_is_not_followed(
    bot_in_process, fake_slack, fake_webhook, other_webhook
):
    fake_webhook.status, fake_webhook.location = 307, other_webhook.url("/deploy")  # keeps POST
    bot = bot_in_process(WEBHOOK_ALLOWLIST=f"{fake_webhook.base_url},{other_webhook.base_url}")
    url = fake_webhook.url("/deploy")
    bot.command(propose("call_webhook", "medium", "Deploy", url=url, payload="{}"))
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, REQ)

    # It may have acted before redirecting: outcome unknown, not repeated (nor followed).
    report = thread_report(fake_slack, card)
    assert report == (
        "call_webhook: outcome unknown: the server answered HTTP 307 Temporary Redirect after "
        "receiving the call (redirects are not followed); not repeated"
    )
    assert len(fake_webhook.hits("POST")) == 1
    assert other_webhook.hits() == []


def test_an_approved_webhook_that_acts_then_answers_502_is_called_once(
    bot_in_process, fake_slack, fake_webhook
):
    """Unknown means unknown: it did the work and then said 502, so a second POST would do it
    twice. Sweeps come back after the report (the clock moved past any retry wait); the report
    is the only thing that follows."""
    fake_webhook.answer_next(502, acted=True)
    bot = bot_in_process(
        WEBHOOK_ALLOWLIST=fake_webhook.base_url, RETRY_AFTER="1", SCHEDULER_TICK="1"
    )
    url = fake_webhook.url("/deploy")
    bot.command(propose("call_webhook", "medium", "Deploy", url=url, payload="{}"))
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, REQ)

    report = thread_report(fake_slack, card)
    assert report == (
        "call_webhook: outcome unknown: the server answered HTTP 502 Bad Gateway after "
        "receiving the call; not repeated"
    )
    for _ in range(3):
        bot.tick(advance=5)
        bot.settle()
    assert len(fake_webhook.hits("POST")) == 1 and len(fake_webhook.performed()) == 1


def test_an_approved_webhook_answering_429_is_retried_after_growing_waits_and_applied(
    bot_in_process, fake_slack, fake_webhook, database_url
):
    """429 says "not processed", so the POST is tried again, each time after a longer, jittered
    wait (RETRY_AFTER=1: 0.5–1 s, then 1–2 s, then 2–4 s); sweeps that come back before the wait
    is over send nothing and use up none of the decision's 5 attempts."""
    for _ in range(3):
        fake_webhook.answer_next(429, acted=False)
    bot = bot_in_process(
        WEBHOOK_ALLOWLIST=fake_webhook.base_url, RETRY_AFTER="1", SCHEDULER_TICK="1"
    )
    url = fake_webhook.url("/deploy")
    bot.command(propose("call_webhook", "medium", "Deploy", url=url, payload="{}"))
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, REQ)

    def reported() -> bool:
        return any(
            c.params.get("thread_ts") == card.ts for c in fake_slack.calls("chat.postMessage")
        )

    bot.tick_until(reported, "report the webhook's answer", advance=0.25)  # sweeps come back early
    [report] = fake_slack.wait_for(
        "chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts, timeout=40
    )
    assert report.params["text"] == f"call_webhook: Webhook {url} answered HTTP 200 OK"
    assert len(fake_webhook.hits("POST")) == 4 and len(fake_webhook.performed()) == 1
    # the report is posted just before the run is marked done
    wait_until(lambda: leftovers(database_url) == {}, "nothing left half done", 10, bot.log)
    db = open_database(database_url)
    try:
        events = [e for e in Audit(db).since(0) if e.event == "effect"]
    finally:
        db.close()
    assert [(e.detail["attempt"], e.detail["outcome"]) for e in events] == [
        (1, "retry"),
        (2, "retry"),
        (3, "retry"),
        (4, "done"),
    ]
    waits = [e.detail["wait"] for e in events[:3]]
    assert 0.5 <= waits[0] <= 1 and 1 <= waits[1] <= 2 and 2 <= waits[2] <= 4
