"""A Retry click is recorded before its ack (DESIGN.md, invariant 3), as a decision's click is:
a bot that dies right after acking it leaves it to the next bot's recovery sweep, which retries
the run once; two Retry clicks at once retry it once; someone who may not retry it is told
there is no such run, and the run stays as it was. Both databases."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from typing import Any

import pytest
from slack_bolt.context.ack.ack import Ack

from bot.domain.models import Run
from tests.support import slack_requests as sr
from tests.support.faults import Killed, killed_after
from tests.support.races import race

REQ, RANDO = "U0REQ", "U0RANDO"
CARD_TEXT = "Draft: Write the outage note"

pytestmark = pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)


def failed_run(bot_in_process, fake_slack, fake_openai) -> tuple[Any, str]:
    """A bot, and the id of a run of it that failed (its notice, with Retry, posted)."""
    for _ in range(3):  # the model client tries three times before the run fails
        fake_openai.enqueue(status=500)
    bot = bot_in_process()
    bot.command("Write the outage note", user=REQ)
    [failed] = fake_slack.wait_for("chat.postMessage", lambda c: "hit an error" in c.params["text"])
    [button] = [e for b in failed.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    bot.settle()
    return bot, button["value"]


def run_of(bot, thread_id: str) -> Run:
    run = bot.deps.store.get_run(thread_id)
    assert run is not None
    return run


def retrying(fake_slack) -> list:
    return [c for c in fake_slack.calls("chat.postEphemeral") if "Retrying run" in c.params["text"]]


def cards(fake_slack) -> list:
    return [
        c
        for c in fake_slack.calls("chat.postMessage")
        if "blocks" in c.params and CARD_TEXT in str(c.params)
    ]


def retry_stalled(bot, thread_id: str, user: str = REQ) -> tuple[list[int], threading.Event]:
    """``user``'s Retry, taken by a worker that stalls (before it works the click) until
    ``wake`` is set; ``calls``: how many takers worked it."""
    inbox = bot.deps.engine.inbox
    retried, stalled, wake = inbox.retry, threading.Event(), threading.Event()
    calls: list[int] = []

    def stall_the_first(click: Any) -> Any:
        calls.append(1)
        if len(calls) == 1:
            stalled.set()
            wake.wait(30)
        return retried(click)

    inbox.retry = stall_the_first
    assert bot.send(sr.retry_body(thread_id, user)).status_code == 200
    assert stalled.wait(10), "the click was never taken"
    return calls, wake


def test_a_retry_acked_just_before_a_crash_is_carried_out_once_after_a_restart(
    bot_in_process, fake_slack, fake_openai, monkeypatch
):
    """The bot acked the Retry and died there: nothing it handed its workers ran, and nothing
    after the ack either. The next bot's sweep, once the dead one's lease ran out, retries the
    run, once, and the person hears it."""
    bot, thread_id = failed_run(bot_in_process, fake_slack, fake_openai)

    def dropped(fn: Any, *args: Any) -> Future[Any]:
        return Future()  # taken, never run: the process dies before its workers get to it

    real_ack = Ack.__call__

    def ack_then_die(self: Ack, *args: Any, **kwargs: Any) -> Any:
        real_ack(self, *args, **kwargs)  # Slack hears "accepted"...
        raise Killed()  # ...and the process is gone

    with monkeypatch.context() as dying:
        dying.setattr(bot.deps.worker, "submit", dropped)
        dying.setattr(Ack, "__call__", ack_then_die)
        assert bot.send(sr.retry_body(thread_id, REQ)).status_code == 200
        bot.settle()
    bot.stop()

    again = bot_in_process().restarted()
    for _ in range(3):  # the dead bot's 30 s lease on the click runs out; later sweeps too
        again.tick(advance=31)
        again.settle()
    assert len(cards(fake_slack)) == 1, "the retried run asks again, once"
    assert run_of(again, thread_id).status == "waiting"
    assert len(retrying(fake_slack)) == 1
    assert [c.params["user"] for c in retrying(fake_slack)] == [REQ]


def test_two_retry_clicks_at_once_retry_the_run_once(bot_in_process, fake_slack, fake_openai):
    bot, thread_id = failed_run(bot_in_process, fake_slack, fake_openai)

    responses = race([lambda: bot.send(sr.retry_body(thread_id, REQ))] * 4)
    assert all(r.status_code == 200 for r in responses)
    bot.settle()
    bot.tick(advance=61)  # a sweep finds nothing left to do
    bot.settle()

    assert len(cards(fake_slack)) == 1
    assert len(retrying(fake_slack)) == 1
    told = [c.params["text"] for c in fake_slack.calls("chat.postEphemeral")]
    assert len([t for t in told if "there is nothing to retry" in t]) == 3, told


def test_a_retry_by_someone_who_may_not_is_refused_and_changes_nothing(
    bot_in_process, fake_slack, fake_openai
):
    bot, thread_id = failed_run(bot_in_process, fake_slack, fake_openai)
    before = run_of(bot, thread_id)

    assert bot.send(sr.retry_body(thread_id, RANDO)).status_code == 200
    refused = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params["user"] == RANDO)
    assert refused[0].params["text"] == "I can't find that run any more."
    bot.settle()
    bot.tick(advance=61)  # no sweep finds anything of it to carry out either
    bot.settle()

    after = run_of(bot, thread_id)
    assert (after.status, after.updated_at, after.result) == (
        "failed",
        before.updated_at,
        before.result,
    )
    assert cards(fake_slack) == []
    assert bot.deps.store.open_inbox(0.0) == []
    assert [c.params["user"] for c in fake_slack.calls("chat.postEphemeral")] == [RANDO]


def test_a_retry_click_worked_twice_retries_once_and_is_answered_once(
    bot_in_process, fake_slack, fake_openai
):
    """The worker that took the click stalled past its lease, so the recovery sweep took it
    too and retried the run; the stalled one, waking, finds its click worked: it retries
    nothing and says nothing (not "there is nothing to retry" to the person who did)."""
    bot, thread_id = failed_run(bot_in_process, fake_slack, fake_openai)
    calls, wake = retry_stalled(bot, thread_id)
    bot.tick(advance=31)  # its 30 s lease ran out: the sweep takes it and retries the run
    fake_slack.wait_for("chat.postEphemeral", lambda c: "Retrying run" in c.params["text"])
    wake.set()
    bot.settle()
    bot.tick(advance=61)
    bot.settle()

    assert len(calls) == 2
    assert len(cards(fake_slack)) == 1
    told = [c.params["text"] for c in fake_slack.calls("chat.postEphemeral")]
    assert told == [f"Retrying run `{thread_id[:8]}`."], told


def test_a_retry_committed_just_before_a_crash_is_moved_on_once_and_not_answered_again(
    bot_in_process, fake_slack, fake_openai, monkeypatch
):
    """The bot died as the retry's transaction (the run running again, the click closed)
    committed: the next bot's sweep moves the stale run on, once, and does not work the click
    again (no "there is nothing to retry" for a retry that happened)."""
    bot, thread_id = failed_run(bot_in_process, fake_slack, fake_openai)
    killed_after(monkeypatch, bot.deps.store, "retry_run")
    assert bot.send(sr.retry_body(thread_id, REQ)).status_code == 200
    bot.settle()
    bot.stop()
    monkeypatch.undo()

    again = bot_in_process().restarted()
    for _ in range(3):
        again.tick(advance=61)
        again.settle()
    assert len(cards(fake_slack)) == 1
    assert run_of(again, thread_id).status == "waiting"
    assert fake_slack.calls("chat.postEphemeral") == []  # it died before it said anything


def test_a_stalled_retry_click_does_not_retry_the_run_again_after_it_failed_anew(
    bot_in_process, fake_slack, fake_openai
):
    """The worker that took the click stalled past its lease; the sweep took it too, retried
    the run, and the run failed again at once (its new notice, with its own Retry, posted).
    The stalled worker, waking, finds the run failed: its click was worked already, so it
    retries nothing (one click, one retry; the new failure waits for a new Retry) and says
    nothing."""
    bot, thread_id = failed_run(bot_in_process, fake_slack, fake_openai)
    calls, wake = retry_stalled(bot, thread_id)
    for _ in range(3):  # the retried run fails again, as it did the first time
        fake_openai.enqueue(status=500)
    bot.tick(advance=31)  # its 30 s lease ran out: the sweep takes it and retries the run
    fake_slack.wait_for(
        "chat.postMessage", lambda c: "hit an error" in c.params["text"], count=2, timeout=20
    )
    assert run_of(bot, thread_id).status == "failed"
    wake.set()
    bot.settle()
    bot.tick(advance=61)
    bot.settle()

    assert len(calls) == 2
    assert run_of(bot, thread_id).status == "failed", "one click retried the run twice"
    assert cards(fake_slack) == []
    told = [c.params["text"] for c in fake_slack.calls("chat.postEphemeral")]
    assert told == [f"Retrying run `{thread_id[:8]}`."], told


def test_a_refused_retry_click_worked_twice_is_refused_once(
    bot_in_process, fake_slack, fake_openai
):
    """A stranger's Retry, its taker stalled past its lease: the sweep's taker refuses it; the
    stalled one, waking, finds the click worked and says nothing more."""
    bot, thread_id = failed_run(bot_in_process, fake_slack, fake_openai)
    calls, wake = retry_stalled(bot, thread_id, RANDO)
    bot.tick(advance=31)  # its 30 s lease ran out: the sweep takes it and refuses it
    fake_slack.wait_for("chat.postEphemeral", lambda c: c.params["user"] == RANDO)
    done = "SELECT 1 FROM inbox WHERE thread_id = %(t)s AND done_at IS NOT NULL"
    deadline = time.monotonic() + 10
    while not bot.deps.db.fetch_all(done, {"t": thread_id}):  # its taker closes it, after
        assert time.monotonic() < deadline, "the sweep's taker never closed the click"
        time.sleep(0.02)
    wake.set()
    bot.settle()
    bot.tick(advance=61)
    bot.settle()

    assert len(calls) == 2
    assert run_of(bot, thread_id).status == "failed"
    told = [c.params["text"] for c in fake_slack.calls("chat.postEphemeral")]
    assert told == ["I can't find that run any more."], told
