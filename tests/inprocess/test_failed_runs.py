"""A run that fails before anything was decided says so plainly and offers a Retry that works;
junk on the Retry button is answered, and only the run's people (its requester, the approvers
of its requests, ADMINS) may retry; anyone else is told there is no such run."""

from __future__ import annotations

import json

import pytest

from bot.slack.blocks import notices
from tests.support import slack_requests as sr
from tests.support.botproc import free_port
from tests.support.cards import wait_card

REQ, RANDO = "U0REQ", "U0RANDO"


@pytest.fixture
def database_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'bot.db'}"


def test_a_failed_run_offers_a_retry_that_finishes_it(bot_in_process, fake_slack, fake_openai):
    for _ in range(3):  # the model client tries three times before the run fails
        fake_openai.enqueue(status=500)
    bot = bot_in_process()
    bot.command("Write the outage note", user=REQ)
    [failed] = fake_slack.wait_for("chat.postMessage", lambda c: "hit an error" in c.params["text"])
    text = failed.params["text"]
    assert "Nothing was decided or done after the error" in text
    assert "A decision already made" not in text  # there was none: no false comfort
    [button] = [e for b in failed.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["action_id"] == notices.RETRY
    thread_id = button["value"]

    assert bot.send(sr.retry_body(thread_id, RANDO)).status_code == 200
    refused = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params["user"] == RANDO)
    assert refused[0].params["text"] == "I can't find that run any more."
    assert bot.send(sr.retry_body("not-a-run", REQ)).status_code == 200
    fake_slack.wait_for("chat.postEphemeral", lambda c: "isn't one of mine" in c.params["text"])

    assert bot.send(sr.retry_body(thread_id, REQ)).status_code == 200
    fake_slack.wait_for("chat.postEphemeral", lambda c: "Retrying run" in c.params["text"])
    card = wait_card(fake_slack)
    assert "Draft: Write the outage note" in card.text
    assert bot.send(sr.retry_body(thread_id, REQ)).status_code == 200
    fake_slack.wait_for("chat.postEphemeral", lambda c: "nothing to retry" in c.params["text"])


def test_a_model_server_that_cannot_be_reached_is_named_with_its_variable(
    bot_in_process, fake_slack
):
    """Nothing answers at OPENAI_BASE_URL: the requester's failure notice (and the run's audit
    row) says where the bot looked and which variable to fix, not only "Connection error."."""
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    bot = bot_in_process(OPENAI_BASE_URL=url, OPENAI_TIMEOUT="5")
    bot.command("Write the outage note", user=REQ)
    [failed] = fake_slack.wait_for(
        "chat.postMessage", lambda c: "hit an error" in c.params["text"], timeout=30
    )
    text = failed.params["text"]
    assert "Connection error." in text  # the client's own words, still
    fix = f"cannot reach the model's server at {url}: check OPENAI_BASE_URL"
    assert fix in text, text
    [row] = bot.deps.db.fetch_all("SELECT detail FROM audit WHERE event = 'failed'")
    assert fix in json.loads(row["detail"])["error"]
