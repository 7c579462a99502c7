"""Looking after runs from Slack: /agent pending, status, cancel and audit; the audit export;
and the metrics moving as decisions happen. Over signed requests to the real bot."""

from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from bot.domain.models import RunRequest
from bot.domain.review import Review
from bot.slack.blocks import card as ids
from bot.store.db import open_database
from bot.store.repository import Store
from tests.support import slack_requests as sr
from tests.support.botproc import ROOT
from tests.support.cards import (
    blocks_text,
    current,
    has_buttons,
    wait_card,
    wait_cards,
    wait_settled,
)
from tests.support.operations import ask, metric, run_id_of, scrape_when, settled_answer

REQ, BOSS, RANDO = "U0REQ", "U0BOSS", "U0RANDO"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_pending_lists_what_waits_for_you_oldest_first_with_links(bot_in_process, fake_slack):
    bot = bot_in_process(APPROVERS=BOSS)
    bot.command("First note", user=REQ)
    first = wait_card(fake_slack)
    bot.command("Second note", user=REQ)
    second = wait_cards(fake_slack, 2)[1]

    text = settled_answer(fake_slack, bot, "pending", BOSS, "card not posted yet")
    assert text.startswith("*2 waiting for your decision*, oldest first:")
    assert text.index("First note") < text.index("Second note")
    for card in (first, second):
        link = f"https://slack.com/archives/{card.channel}/p{card.ts.replace('.', '')}|card"
        assert link in text
    # The requester may not approve their own run, and a stranger nothing at all.
    assert ask(fake_slack, bot, "pending", REQ) == "Nothing is waiting for your decision."
    assert ask(fake_slack, bot, "pending", RANDO) == "Nothing is waiting for your decision."
    assert ask(fake_slack, bot, "pending now", BOSS).startswith("`/agent pending` takes no")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_status_says_where_a_run_stands_and_its_timeline(bot_in_process, fake_slack):
    bot = bot_in_process(APPROVERS=BOSS)
    bot.command("Tell the team about the fire drill", user=REQ)
    card = wait_card(fake_slack)
    run = run_id_of(fake_slack, card)

    text = settled_answer(fake_slack, bot, f"status {run}", REQ, "*running*")
    assert text.splitlines()[0].startswith(f"*Run `{run}`* (draft), started by <@{REQ}>")
    assert text.splitlines()[0].endswith("*waiting*")
    assert f"⏳ Waiting for <@{BOSS}> on the draft" in text
    assert "*started* by <@U0REQ>" in text and "*requested* by bot" in text

    bot.click(ids.APPROVE, card.approval_id, BOSS)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    bot.settle()  # what the decision set off has finished
    text = ask(fake_slack, bot, f"status {run[:5]}")
    assert text.splitlines()[0].endswith("*done*")
    assert f"✅ *Approved* by <@{BOSS}>" in text and "Result: Approved." in text
    for event in ("approved", "executed", "done"):
        assert f"*{event}* by" in text

    assert ask(fake_slack, bot, "status").startswith("Which run? Give its id")
    assert ask(fake_slack, bot, "status ffffffff") == "I can't find a run `ffffffff`."
    assert ask(fake_slack, bot, "status lunch?") == (
        "`lunch?` isn't a run id; run ids look like `1a2b3c4d`."
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_help_lists_the_subcommands_and_who_may_approve(bot_in_process, fake_slack):
    bot = bot_in_process(APPROVERS=f"{BOSS},S0LEADS")
    ack = bot.command("help").json()
    assert ack["response_type"] == "ephemeral"
    for line in ("`/agent pending`", "`/agent status <run>`", "`/agent cancel <run>`"):
        assert line in ack["text"]
    assert f"Who may approve: <@{BOSS}> <!subteam^S0LEADS>." in ack["text"]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_cancel_closes_the_card_and_nothing_runs(bot_in_process, fake_slack, fake_openai):
    bot = bot_in_process(APPROVERS=BOSS)
    bot.command("Announce the layoffs", user=REQ)
    card = wait_card(fake_slack)
    run = run_id_of(fake_slack, card)

    # Not the requester, an approver of it or an admin: as if there were no such run.
    assert ask(fake_slack, bot, f"cancel {run}", RANDO) == f"I can't find a run `{run}`."
    assert has_buttons(current(fake_slack, card))
    assert ask(fake_slack, bot, f"cancel {run}", REQ) == f"Cancelled run `{run}`."
    shown = blocks_text(current(fake_slack, card)["blocks"])
    assert f"🚫 *Cancelled* by <@{REQ}>" in shown and not has_buttons(current(fake_slack, card))
    [note] = fake_slack.replies(card.channel, card.ts)
    assert note["text"] == f"Run `{run}` was cancelled by <@{REQ}>. Nothing more will run."

    bot.click(ids.APPROVE, card.approval_id, BOSS)  # too late
    late = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params["user"] == BOSS)
    assert "already decided" in late[0].params["text"] and "Cancelled" in late[0].params["text"]
    assert ask(fake_slack, bot, f"cancel {run}", REQ) == (
        f"Run `{run}` is already cancelled; there is nothing to cancel."
    )
    bot.settle()  # what the cancel and the late click set off has finished
    posts = [c for c in fake_slack.calls("chat.postMessage") if "Draft:" in c.params["text"]]
    assert posts == [] and len(fake_openai.requests) == 1  # drafted once, never posted


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_cancel_racing_approve_has_exactly_one_winner(bot_in_process, fake_slack):
    first = bot_in_process(APPROVERS=BOSS)
    second = bot_in_process(APPROVERS=BOSS)
    for n in range(3):
        first.command(f"Race {n}", user=REQ)
    cards = wait_cards(fake_slack, 3)
    runs = [run_id_of(fake_slack, c) for c in cards]
    with ThreadPoolExecutor(6) as pool:
        for card, run in zip(cards, runs, strict=True):
            pool.submit(second.command, f"cancel {run}", REQ)
            pool.submit(first.click, ids.APPROVE, card.approval_id, BOSS)
    for card in cards:
        shown = wait_settled(fake_slack, card)
        first.settle()  # both bots idle: a second outcome would show now
        second.settle()
        text = re.search(r"Draft: Race \d", card.text).group(0)
        posted = [c for c in fake_slack.calls("chat.postMessage") if c.params["text"] == text]
        if "Approved* by" in shown:
            assert "Cancelled" not in shown and len(posted) == 1
        else:
            assert "Cancelled* by" in shown and posted == []


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_audit_trail_is_shown_and_exported(bot_in_process, fake_slack, database_url, tmp_path):
    bot = bot_in_process(APPROVERS=BOSS)
    bot.command("Share the quarterly numbers", user=REQ)
    card = wait_card(fake_slack)
    run = run_id_of(fake_slack, card)
    bot.click(ids.REJECT, card.approval_id, BOSS)
    fake_slack.wait_for("views.open")
    from bot.slack.blocks import modals

    bot.submit(modals.REJECT, card.approval_id, BOSS, {modals.REASON_BLOCK: "not public yet"})
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    bot.settle()  # what the decision set off has finished

    text = ask(fake_slack, bot, f"audit {run}")
    assert text.startswith(f"*Audit trail of run `{run}`*")
    assert f"*rejected* by <@{BOSS}> (reason: not public yet)" in text

    env = {**os.environ, "DATABASE_URL": database_url}
    out = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--since", "1h", "--format", "csv", "--run", run],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["event"] for r in rows] == ["started", "requested", "rejected", "executed", "done"]
    rejected = rows[2]
    assert (rejected["actor"], rejected["request"]) == (BOSS, card.approval_id)
    assert rejected["detail"] == '{"reason": "not public yet", "version": 1, "via": "slack"}'
    assert {r["run"] for r in rows} == {rows[0]["run"]} and rows[0]["run"].startswith(run)
    bad = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--since", "soon"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("audit: ")


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_the_home_tab_with_five_hundred_waiting_is_cut_with_a_count(
    bot_in_process, fake_slack, database_url
):
    bot = bot_in_process(APPROVERS=BOSS)
    bot.command("A run of my own", user=BOSS)
    wait_card(fake_slack)
    db = open_database(database_url)
    try:
        store = Store(db, time.time)
        review = Review("plain", "x", (), summary="a very long kind " * 300)
        for n in range(499):
            run = store.create_run(
                f"{n:032x}", RunRequest("draft", f"Request {n}", REQ, "C0", "C0")
            )
            store.add_approval(run, "i", {}, review)
    finally:
        db.close()

    assert bot.send(sr.home_opened_body(BOSS)).status_code == 200
    [published] = fake_slack.wait_for("views.publish", timeout=15)
    assert published.ok, published.response  # Slack's limits hold: 100 blocks, 3,000 chars
    view = published.params["view"]
    assert len(view["blocks"]) <= 100
    shown = blocks_text(view["blocks"])
    assert "…and 485 more (500 waiting in all)." in shown
    assert "Your runs" in shown and "A run of my own" in shown


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_metrics_move_when_decisions_happen(bot_in_process, fake_slack):
    """(Was tests/scenarios/test_operations.py, against the bot's process.)"""
    bot = bot_in_process(APPROVERS=BOSS)
    bot.command("Post the menu", user=REQ)
    card = wait_card(fake_slack)
    before = scrape_when(bot, "approval_requests_pending", 1.0)
    assert metric(before, 'approval_decisions_total{outcome="approved"}') == 0.0
    assert metric(before, 'slack_ack_seconds_count{kind="command"}') == 1.0

    bot.click(ids.APPROVE, card.approval_id, BOSS)
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)
    after = scrape_when(bot, "approval_requests_pending", 0.0)
    assert metric(after, 'approval_decisions_total{outcome="approved"}') == 1.0
    assert metric(after, "approval_time_to_decision_seconds_count") == 1.0
    assert metric(after, 'slack_ack_seconds_count{kind="interaction"}') == 1.0
    assert metric(after, "scheduler_last_tick_timestamp_seconds") == 0  # it never ticked
    bot.tick()
    deadline = time.monotonic() + 10
    while metric(bot.http.get("/metrics").text, "scheduler_last_tick_timestamp_seconds") == 0:
        assert time.monotonic() < deadline, "the tick never reached /metrics"
        time.sleep(0.05)
    assert "slack_api_errors_total" in after
