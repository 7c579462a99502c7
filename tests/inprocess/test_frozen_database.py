"""A write before an ack on a database that froze: the server process stopped (``SIGSTOP``) or
a network path that swallows packets. The connection stays open and nothing comes back, so no
server-side limit ever fires; left to itself, the listener waited for the kernel to give up
(``tcp_user_timeout``, 10 s, and never on a stopped server whose kernel still takes the bytes),
Slack gave up after 3 s and showed its own error. The bot answers within Slack's 3 s: a write
sent may commit when the server wakes, so the person hears it may or may not have been
recorded, and once the server is back, what landed is carried out once
(tests/support/pgproxy.py freezes the server: the bytes wait, the connections stay open)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest

from bot.http.socket_mode import AckFirstHandler
from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.slack.listeners import actions, commands
from bot.store.sql.runs import WITHDRAWN_RUN
from tests.support import slack_requests as sr
from tests.support.cards import wait_card
from tests.support.lost import REQ, card_behind, sweeps, told
from tests.support.pgproxy import CuttingProxy
from tests.support.races import draft_posts

DRAFT = "Draft: Draft the release note"
ACK_WITHIN = 3.0  # Slack's limit

pytestmark = [
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
    pytest.mark.alone(units_beside=True),  # asserts an ack within Slack's 3 s
]


def withdrawn(proxy: CuttingProxy) -> bool:
    """Whether the bot's withdrawal of the write (bot.store.sql's ``WITHDRAW_*``) was sent
    to the frozen server too: it runs when the server wakes, and the write is then not applied,
    whichever of the two runs first. Sent or not depends on whether the pool had a connection
    it could hand out unchecked (a check's round trip freezes, and is cut off, as well)."""
    return b"WITH gone AS" in proxy.held


def answered_while_frozen(bot, proxy: CuttingProxy, send):
    """``send()``'s answer, sent while the server is frozen at the click's write; checked to
    come within Slack's 3 s, the write having been sent, and the listener done (not stuck on
    the frozen connection) before the server is thawed."""
    sent = time.monotonic()
    answer = send()
    took = time.monotonic() - sent
    assert proxy.frozen.is_set(), "the write never reached the frozen server"
    assert (answer.status_code, took < ACK_WITHIN) == (200, True), (
        f"{answer.status_code} {answer.text} after {took:.2f} s"
    )
    bot.settle(timeout=5)  # the listener ended, the database still frozen
    return answer


def test_a_click_on_a_frozen_database_is_answered_in_time_and_carried_out_once_it_wakes(
    bot_in_process, fake_slack, database_url, proxy
):
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url, REMIND_AFTER="off")

    proxy.freeze(at=b"INSERT INTO inbox")
    answered_while_frozen(bot, proxy, lambda: bot.click(ids.APPROVE, card.approval_id, REQ))
    fake_slack.wait_for("chat.postEphemeral", lambda c: c.params.get("text") == actions.UNCONFIRMED)
    assert not told(fake_slack, actions.NOT_RECORDED)
    proxy.thaw()  # the server wakes and runs the click's write: it was recorded
    if withdrawn(proxy):
        not_carried_out(bot, fake_slack, card.approval_id)
        return

    carried_out = lambda: len(draft_posts(fake_slack, DRAFT)) > 0  # noqa: E731
    bot.tick_until(carried_out, "the click carried out", 61, timeout=30)
    bot.settle()
    sweeps(bot)
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(card.approval_id)
    assert approval is not None and approval.status == "approved", approval
    assert len(draft_posts(fake_slack, DRAFT)) == 1


def test_agent_on_a_frozen_database_is_answered_in_time_and_starts_once_it_wakes(
    bot_in_process, fake_slack, database_url, proxy
):
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url))
    bot.settle()
    proxy.freeze(at=b"INSERT INTO runs")
    answer = answered_while_frozen(bot, proxy, lambda: bot.command("Draft the release note"))
    assert answer.json() == {
        "response_type": "ephemeral",
        "text": commands.UNCONFIRMED.format("C0REQ"),
    }
    proxy.thaw()
    if withdrawn(proxy):
        bot.settle()
        sweeps(bot)
        assert bot.deps is not None
        runs = bot.deps.db.fetch_all("SELECT status, result FROM runs")
        assert runs == [{"status": "cancelled", "result": WITHDRAWN_RUN}]
        assert fake_slack.calls("chat.postMessage") == []
        return

    started = lambda: bool(fake_slack.calls("chat.postMessage"))  # noqa: E731
    bot.tick_until(started, "the run started", 61, timeout=30)
    wait_card(fake_slack)
    bot.settle()
    sweeps(bot)
    assert bot.deps is not None
    assert [r["status"] for r in bot.deps.db.fetch_all("SELECT status FROM runs")] == ["waiting"]
    assert len(fake_slack.calls("chat.postMessage")) == 1


def not_carried_out(bot, fake_slack, approval_id: str) -> None:
    """Once the server is back and the recovery sweeps ran: the request still pending, its card
    as it was (its buttons offered again), nothing posted but the card."""
    posts = len(fake_slack.calls("chat.postMessage"))
    bot.settle()
    sweeps(bot)
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(approval_id)
    assert approval is not None and approval.status == "pending", approval
    assert len(fake_slack.calls("chat.postMessage")) == posts


def form_open(bot_in_process, fake_slack, proxy: CuttingProxy, database_url: str):
    """A draft's card with its "Request changes" form open, the bot behind ``proxy``."""
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url), REMIND_AFTER="off")
    bot.command("Invite everyone to the offsite", user=REQ)
    card = wait_card(fake_slack)
    bot.settle()
    bot.click(ids.CHOICE_PREFIX + "revise", card.approval_id, REQ)
    fake_slack.wait_for("views.open")
    bot.settle()
    return bot, card


def card_posts(fake_slack) -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if "blocks" in c.params]


def test_a_submission_on_a_frozen_database_is_answered_in_the_modal_and_applied_once_it_wakes(
    bot_in_process, fake_slack, database_url, proxy
):
    bot, round1 = form_open(bot_in_process, fake_slack, proxy, database_url)

    proxy.freeze(at=b"INSERT INTO inbox")
    notes = {"notes": "mention lunch"}
    answer = answered_while_frozen(
        bot, proxy, lambda: bot.submit(modals.CHOICE, f"{round1.approval_id}:revise", REQ, notes)
    )
    assert answer.json() == {"response_action": "update", "view": modals.unconfirmed_modal()}
    proxy.thaw()
    if withdrawn(proxy):
        not_carried_out(bot, fake_slack, round1.approval_id)
        return

    round2 = lambda: len(card_posts(fake_slack)) == 2  # noqa: E731
    bot.tick_until(round2, "the submission applied", 61, timeout=30)
    bot.settle()
    sweeps(bot)
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(round1.approval_id)
    assert approval is not None and approval.applied_at is not None, approval
    assert len(card_posts(fake_slack)) == 2


def test_a_submission_whose_read_froze_is_not_recorded_and_never_applied(
    bot_in_process, fake_slack, database_url, proxy
):
    """The server froze on the read before the write: the write was never sent, so "not
    recorded" is true, and stays true once the server is back."""
    bot, round1 = form_open(bot_in_process, fake_slack, proxy, database_url)

    proxy.freeze()
    notes = {"notes": "mention lunch"}
    answer = answered_while_frozen(
        bot, proxy, lambda: bot.submit(modals.CHOICE, f"{round1.approval_id}:revise", REQ, notes)
    )
    assert answer.json() == {"response_action": "update", "view": modals.not_recorded_modal()}
    proxy.thaw()
    bot.settle()

    sweeps(bot)
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(round1.approval_id)
    assert approval is not None and approval.status == "pending", approval
    assert bot.deps.db.fetch_one("SELECT count(*) AS n FROM inbox") == {"n": 0}
    assert len(card_posts(fake_slack)) == 1


def test_a_burst_of_clicks_on_a_frozen_database_is_answered_in_time_every_one(
    bot_in_process, fake_slack, database_url, proxy
):
    """More clicks at once than the threads Slack's requests are answered on (Starlette's 40
    when this was written; now the listener pool's 32, then threads of their own): each waited
    out its write's 2.5 s on the frozen server, and the clicks queued behind them got 2.5 s of
    their own only once a thread was free, answered after 5 s (Slack had shown its error by
    then). Each request's time is counted from when it arrived."""
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url, REMIND_AFTER="off")
    clicks = 90  # two rounds of them queued for a thread

    def click(n: int) -> float:
        sent = time.monotonic()
        answer = bot.click(ids.APPROVE, card.approval_id, f"U0CLICK{n}")
        assert answer.status_code == 200, answer.text
        return time.monotonic() - sent

    proxy.freeze()
    with bot.http, ThreadPoolExecutor(clicks) as senders:  # one event loop, as under uvicorn
        took = sorted(senders.map(click, range(clicks)))
    proxy.thaw()
    bot.settle()
    assert took[-1] < ACK_WITHIN, f"the slowest of {clicks} clicks was answered in {took[-1]:.1f}s"


@contextmanager
def over_the_socket(bot, fake_slack) -> Iterator[None]:
    """The in-process bot also connected in Socket Mode, as ``python -m bot`` connects it."""
    deps = bot.deps
    handler = AckFirstHandler(bot.app, fake_slack.app_token, deps.acks, deps.metrics)
    handler.connect()
    fake_slack.wait_socket_connected()
    try:
        yield
    finally:
        # As bot.__main__ closes it: slack_sdk's close() can hang; its threads are daemons.
        closing = threading.Thread(target=handler.close, daemon=True)
        closing.start()
        closing.join(timeout=5)


def test_a_burst_of_clicks_over_the_websocket_on_a_frozen_database_is_acked_in_time_every_one(
    bot_in_process, fake_slack, database_url, proxy
):
    """In Socket Mode, as over HTTP: more clicks at once than the Socket Mode client's threads
    (10). Each waited out its write on the frozen server, and the envelopes queued behind them
    got their full time again once a thread took them: the last were acked after 5 s (Slack had
    shown its error by then). Each envelope's time is counted from when it came off the
    WebSocket; one with little or none left has only that (or the write's floor, 0.25 s)."""
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url, REMIND_AFTER="off")
    clicks = 30  # three rounds of them queued for a thread
    clickers = [f"U0CLICK{n}" for n in range(clicks)]

    def click(user: str) -> float:
        payload = sr.click_payload(ids.APPROVE, card.approval_id, user, card.channel, card.ts)
        sent = time.monotonic()
        fake_slack.send_envelope("interactive", payload, timeout=10)
        return time.monotonic() - sent

    with over_the_socket(bot, fake_slack):
        proxy.freeze()
        with ThreadPoolExecutor(clicks) as senders:
            took = sorted(senders.map(click, clickers))
        proxy.thaw()
        bot.settle()
    assert took[-1] < ACK_WITHIN, f"the slowest of {clicks} clicks was acked in {took[-1]:.1f}s"
    # Each clicker heard that their click was not recorded, or may have been.
    notes = (actions.NOT_RECORDED, actions.UNCONFIRMED)
    heard = {
        c.params["user"]
        for c in fake_slack.calls("chat.postEphemeral")
        if c.params["text"] in notes
    }
    assert heard == set(clickers)


def test_a_retry_on_a_frozen_database_is_answered_in_time_and_carried_out_once_it_wakes(
    bot_in_process, fake_slack, fake_openai, database_url, proxy
):
    """A Retry click is recorded before its ack as a decision's click is (the inbox), so it
    is answered within Slack's 3 s when the database froze at its write; once the server is
    back, the run is retried once, or (the write withdrawn) stays failed."""
    for _ in range(3):  # the model client tries three times before the run fails
        fake_openai.enqueue(status=500)
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url), REMIND_AFTER="off")
    bot.command("Draft the release note", user=REQ)
    [failed] = fake_slack.wait_for("chat.postMessage", lambda c: "hit an error" in c.params["text"])
    [button] = [e for b in failed.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    thread_id = button["value"]
    bot.settle()

    proxy.freeze(at=b"INSERT INTO inbox")
    answered_while_frozen(bot, proxy, lambda: bot.send(sr.retry_body(thread_id, REQ)))
    fake_slack.wait_for(
        "chat.postEphemeral", lambda c: c.params.get("text") == actions.RETRY_UNCONFIRMED
    )
    assert not told(fake_slack, actions.NOT_RECORDED)
    proxy.thaw()
    assert bot.deps is not None
    if withdrawn(proxy):
        bot.settle()
        sweeps(bot)
        assert asked(fake_slack) == []
        assert bot.deps.store.get_run(thread_id).status == "failed"
        return

    bot.tick_until(lambda: bool(asked(fake_slack)), "the run retried", 61, timeout=30)
    bot.settle()
    sweeps(bot)
    assert len(asked(fake_slack)) == 1
    assert bot.deps.store.get_run(thread_id).status == "waiting"


def asked(fake_slack) -> list:
    """The cards posted (not the failure notice, which has blocks too: its Retry button)."""
    return [c for c in card_posts(fake_slack) if "hit an error" not in c.params["text"]]
