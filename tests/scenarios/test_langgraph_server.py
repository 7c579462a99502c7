"""The approval loop with the graphs on a LangGraph Server (``LANGGRAPH_API_URL``).

A real ``langgraph dev --no-reload`` serves the project's own ``langgraph.json``; the real bot
runs each ``/agent`` there through langgraph-sdk and hears of each pause by the run's webhook or,
without one, by polling. The fake Slack and OpenAI are shared by the bot and the server (the
server's graphs post the approved message to Slack themselves).
"""

from __future__ import annotations

import concurrent.futures
import re
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from langgraph_sdk import get_sync_client

from bot.agents.langgraph_server import server_thread
from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.store.db import open_database
from tests.fakes.openai import FakeOpenAI
from tests.fakes.slack import FakeSlack
from tests.support.botproc import BotProcess, free_port
from tests.support.cards import (
    Card,
    current,
    has_buttons,
    shown,
    wait_card,
    wait_cards,
    wait_settled,
)
from tests.support.databases import fresh_postgres
from tests.support.faults import wait_quiet, wait_until
from tests.support.lgserver import LangGraphServer
from tests.support.slack_requests import SIGNING_SECRET, retry_body

REQ, BOSS = "U0REQ", "U0BOSS"

# One worker runs all of these, on one server: a `langgraph dev` takes ~8 s to start and ~15 s
# more to load the graphs on its first run, and its graphs post to that worker's fake Slack.
pytestmark = pytest.mark.xdist_group("langgraph_server")


@pytest.fixture(scope="module")
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


def graphs_env(slack: FakeSlack, openai: FakeOpenAI, database_url: str) -> dict[str, str]:
    """What the graphs need, on the server as in the bot."""
    return {
        "SLACK_BOT_TOKEN": slack.bot_token,
        "SLACK_API_URL": slack.api_url,
        "OPENAI_API_KEY": "sk-test",
        "OPENAI_BASE_URL": openai.base_url,
        "DATABASE_URL": database_url,
    }


@pytest.fixture(scope="module")
def server(slack, openai, tmp_path_factory) -> Iterator[LangGraphServer]:
    with fresh_postgres() as ledger:  # the graphs' at-most-once ledger
        workdir = tmp_path_factory.mktemp("langgraph")
        running = LangGraphServer(graphs_env(slack, openai, ledger), workdir).start()
        yield running
        running.stop()


@pytest.fixture
def fresh(slack, openai) -> None:
    slack.reset()
    openai.reset()


@pytest.fixture
def start(slack, openai, server, fresh, tmp_path) -> Iterator[Callable[..., BotProcess]]:
    """Start a bot on a database of its own, running its graphs on ``server``."""
    bots: list[BotProcess] = []

    with fresh_postgres() as database_url:

        def start_bot(webhook: bool = True, at: LangGraphServer = server, **env: str) -> BotProcess:
            port = str(free_port())
            hook = f"http://127.0.0.1:{port}/langgraph/webhook" if webhook else ""
            bot_env = {
                **graphs_env(slack, openai, database_url),
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "PORT": port,
                "SCHEDULER_TICK": "1",
                "RETRY_AFTER": "2",
                "APPROVERS": BOSS,
                "LANGGRAPH_API_URL": at.url,
                "LANGGRAPH_WEBHOOK_URL": hook,
                **env,
            }
            bot = BotProcess(bot_env, tmp_path / f"bot{len(bots)}.log", slack)
            bots.append(bot)
            return bot.start()

        start_bot.database_url = database_url  # type: ignore[attr-defined]
        yield start_bot
        for bot in bots:
            bot.stop()


def thread_of(server: LangGraphServer, started: str) -> str:
    """The server's thread of a run, from ``/agent``'s answer ("Started run `1a2b3c4d`"):
    once it exists (the answer comes when the run is recorded; the worker creates the
    server's thread after it)."""
    short = re.search(r"`([0-9a-f]{8})", started)
    assert short, started
    client = get_sync_client(url=server.url, api_key=None)
    found: list[str] = []

    def created() -> bool:
        for thread in client.threads.search(limit=1000):
            if (thread.get("metadata") or {}).get("bot_thread", "").startswith(short.group(1)):
                found.append(thread["thread_id"])
                return True
        return False

    wait_until(created, f"a server thread for run {short.group(1)}", 15, server.log)
    return found[0]


def runs_on(server: LangGraphServer, thread: str) -> list[dict]:
    return get_sync_client(url=server.url, api_key=None).runs.list(thread, limit=20)


def posted(slack: FakeSlack, text: str) -> list[str]:
    return [
        c.params["text"]
        for c in slack.calls("chat.postMessage")
        if c.params.get("text", "").startswith(text)
    ]


def report(slack: FakeSlack, card: Card) -> str:
    replies = slack.wait_for(
        "chat.postMessage",
        lambda c: c.params.get("thread_ts") == card.ts and "posted" in c.params["text"].lower(),
    )
    return replies[0].params["text"]


# ------------------------------------------------------------------ the loop


def test_approve_runs_on_the_server_and_the_webhook_brings_each_step(start, slack, server):
    # Polling every 60 s: the card and the result can only come this quickly by the webhook.
    bot = start(LANGGRAPH_POLL_EVERY="60")
    started = bot.command("Draft the VPN notice").json()["text"]
    assert "Started run" in started
    card = wait_card(slack, timeout=15)
    assert "Draft: Draft the VPN notice" in card.text
    assert has_buttons(current(slack, card))

    bot.click(ids.APPROVE, card.approval_id, BOSS)
    assert "Approved* by <@U0BOSS>" in wait_settled(slack, card)
    assert "Approved." in report(slack, card)
    assert posted(slack, "Draft: Draft the VPN notice") == ["Draft: Draft the VPN notice"]
    thread = thread_of(server, started)
    state = get_sync_client(url=server.url, api_key=None).threads.get_state(thread)
    assert state["values"]["decision"]["type"] == "approve"
    assert state["next"] == []


def test_edit_and_reject_resume_the_server_thread_with_the_decision(start, slack):
    bot = start()
    bot.command("Write the release note")
    card = wait_card(slack, timeout=15)
    bot.click(ids.EDIT, card.approval_id, BOSS)
    slack.wait_for("views.open")
    bot.submit(modals.EDIT_DRAFT, card.approval_id, BOSS, {modals.DRAFT_BLOCK: "Ship it today"})
    assert report(slack, card).startswith("Approved (edited). Posted")
    assert posted(slack, "Ship it") == ["Ship it today"]
    assert posted(slack, "Draft: Write the release note") == []

    slack.reset()
    bot.command("Announce the reorg")
    card = wait_card(slack, timeout=15)
    bot.click(ids.REJECT, card.approval_id, BOSS)
    slack.wait_for("views.open")
    bot.submit(modals.REJECT, card.approval_id, BOSS, {modals.REASON_BLOCK: "not yet"})
    assert "Rejected* by <@U0BOSS>" in wait_settled(slack, card)
    assert "Rejected: not yet. Nothing was posted." in report(slack, card)
    assert posted(slack, "Draft: Announce") == []


def test_ten_clicks_at_once_without_a_webhook_resume_the_thread_once(start, slack, server):
    bot = start(webhook=False)  # the bot hears of each pause by polling alone
    started = bot.command("Say hello to the team").json()["text"]
    card = wait_card(slack, timeout=15)
    users = [BOSS, REQ, "U0OTHER", BOSS, REQ] * 2
    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda u: bot.click(ids.APPROVE, card.approval_id, u), users))
    assert {a.status_code for a in answers} == {200}
    wait_settled(slack, card)
    assert "Approved." in report(slack, card)
    slack.wait_for("chat.postEphemeral", count=9)
    wait_quiet(start.database_url)  # every click and decision handled: a second would show now
    assert shown(slack, card).count("Approved* by") == 1
    assert posted(slack, "Draft: Say hello") == ["Draft: Say hello to the team"]
    thread = thread_of(server, started)
    assert len(runs_on(server, thread)) == 2  # the start, and one resume
    told = [e["text"] for e in slack.ephemerals("C0REQ")]
    # Every other click is told why it changed nothing: not theirs to decide, or decided.
    assert len(told) == 9
    assert all(t.startswith("Only <@U0BOSS>") or "already decided" in t for t in told)


def test_an_unanswered_request_expires_and_the_server_graph_hears_it(start, slack):
    bot = start(EXPIRE_AFTER="3s", REMIND_AFTER="off")
    bot.command("Post the outage summary")
    card = wait_card(slack, timeout=15)
    text = wait_settled(slack, card, timeout=20)
    assert "⌛" in text and "Expired" in text
    assert "Nothing was posted" in report(slack, card)
    assert posted(slack, "Draft: Post the outage") == []


def test_cancel_stops_the_run_under_way_on_the_server(start, slack, openai, server):
    openai.hold()  # the model thinks until the test says: the cancel lands mid-call, every time
    bot = start()
    started = bot.command("Draft the budget note").json()["text"]
    run = re.search(r"`([0-9a-f]{8})", started).group(1)  # type: ignore[union-attr]
    thread = thread_of(server, started)
    [asked] = openai.wait_until_held(1, timeout=15)
    assert last_text(asked) == "Draft the budget note"
    assert statuses(server, thread) == {"running"}  # the run is under way, in its model call

    before = len(slack.calls("response_url"))
    bot.command(f"cancel {run}")
    answer = slack.wait_for("response_url", count=before + 1)[before]
    assert answer.params["text"] == f"Cancelled run `{run}`."
    wait_until(
        lambda: not statuses(server, thread) & {"pending", "running"},
        "the server stops the run",
        15,
        server.log,
    )
    assert statuses(server, thread) == {"interrupted"}
    assert len(openai.held) == 1  # stopped while the model had not answered

    openai.release()  # the model answers now: to nobody, or to a run that no longer listens
    assert openai.wait_for_answers(1) in ([True], [False])

    # The next run goes all the way to its card: the cancelled one, whose model answer came
    # before that run even started, had every chance to bring a card of its own by then.
    bot.command("Draft the travel note")
    [card] = wait_cards(slack, count=1, timeout=15)
    assert "Draft: Draft the travel note" in card.text
    assert len(cards_posted(slack)) == 1
    assert statuses(server, thread) == {"interrupted"}
    assert "draft" not in values_of(server, thread)  # the model's answer never reached it
    assert posted(slack, "Draft: Draft the budget") == []


def statuses(server: LangGraphServer, thread: str) -> set[str]:
    return {r["status"] for r in runs_on(server, thread)}


def values_of(server: LangGraphServer, thread: str) -> dict:
    return get_sync_client(url=server.url, api_key=None).threads.get_state(thread)["values"]


def last_text(request: dict) -> str:
    return [m for m in request["messages"] if m["role"] == "user"][-1]["content"]


def cards_posted(slack: FakeSlack) -> list:
    return [c for c in slack.calls("chat.postMessage") if c.params.get("blocks")]


def test_two_keys_given_at_once_on_the_server_post_once_every_time(start, slack):
    """Both keys of ``two_person`` approved within a few milliseconds, for 20 runs: while the
    first key's resume keeps the server thread busy, the second must wait for it, not count as
    carried out (it used to: both cards said Approved and nothing was ever posted)."""
    second, rounds = "U0SECOND", 20
    bot = start(APPROVERS=f"{BOSS},{second}", LANGGRAPH_POLL_EVERY="0.2")
    texts = [f"Freeze deploys, round {n:02d}" for n in range(rounds)]
    for text in texts:
        bot.command(f"two_person {text}")
    cards = wait_cards(slack, count=2 * rounds, timeout=60)
    keys = {text: [c for c in cards if text in c.text] for text in texts}
    assert {text: len(pair) for text, pair in keys.items()} == dict.fromkeys(texts, 2)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for one, two in keys.values():
            clicks = [
                pool.submit(bot.click, ids.APPROVE, one.approval_id, BOSS),
                pool.submit(bot.click, ids.APPROVE, two.approval_id, second),
            ]
            assert [c.result().status_code for c in clicks] == [200, 200]

    wait_until(
        lambda: runs_by_status(start.database_url) == {"done": rounds},
        "every run done",
        60,
        bot.log,
    )
    sent = Counter(c.params.get("text") for c in slack.calls("chat.postMessage"))
    assert {text: sent[f"Draft: {text}"] for text in texts} == dict.fromkeys(texts, 1)


def runs_by_status(database_url: str) -> dict[str, int]:
    db = open_database(database_url)
    try:
        rows = db.fetch_all("SELECT status, COUNT(*) AS n FROM runs GROUP BY status")
    finally:
        db.close()
    return {r["status"]: int(r["n"]) for r in rows}


# ------------------------------------------------------------------ faults


def test_a_bot_killed_mid_run_finds_the_pause_after_restart(start, slack):
    first = start()
    first.command("Draft the maintenance window note")
    first.kill()  # its webhook URL now leads nowhere: the second bot is on another port
    second = start()
    card = wait_card(slack, timeout=20)
    second.click(ids.APPROVE, card.approval_id, BOSS)
    assert "Approved." in report(slack, card)
    assert len(posted(slack, "Draft: Draft the maintenance")) == 1
    assert len([c for c in slack.calls("chat.postMessage") if c.params.get("blocks")]) == 1


def test_the_server_away_is_said_in_slack_and_nothing_is_lost(start, slack, openai, tmp_path):
    with fresh_postgres() as ledger:
        own = LangGraphServer(graphs_env(slack, openai, ledger), tmp_path / "own").start()
        try:
            bot = start(at=own)
            bot.command("Draft the holiday rota")
            card = wait_card(slack, timeout=15)
            own.stop()

            # A click while the server is away: recorded, the card says so, and the people too.
            bot.click(ids.APPROVE, card.approval_id, BOSS)
            assert "Approved* by <@U0BOSS>" in wait_settled(slack, card)
            away = slack.wait_for(
                "chat.postMessage", lambda c: "is not answering" in c.params.get("text", "")
            )
            assert "decision is recorded" in away[0].params["text"]
            assert away[0].params.get("thread_ts") == card.ts
            # A new run while the server is away: recorded, and the requester is told.
            bot.command("Draft the parking note")
            told = slack.wait_for(
                "chat.postMessage", lambda c: "Your run is recorded" in c.params.get("text", "")
            )
            assert "<@U0REQ>" in told[0].params["text"]
            assert posted(slack, "Draft: Draft the holiday") == []

            own.start()  # the same state (kept in its folder) on the same port
            assert "Approved." in report(slack, card)
            assert posted(slack, "Draft: Draft the holiday") == ["Draft: Draft the holiday rota"]
            later = wait_cards(slack, count=2, timeout=30)[-1]  # the waiting run went on too
            assert "Draft: Draft the parking note" in later.text
        finally:
            own.stop()


def test_a_run_failing_on_the_server_is_reported_and_retry_goes_on(start, slack, openai):
    for _ in range(3):  # the model client tries three times before the graph raises
        openai.enqueue(status=500)
    bot = start()
    bot.command("Write the outage note")
    [failed] = slack.wait_for("chat.postMessage", lambda c: "hit an error" in c.params["text"])
    assert "OpenAIAPIError: An internal error occurred" in failed.params["text"]
    [button] = [e for b in failed.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert bot.send(retry_body(button["value"], REQ)).status_code == 200
    card = wait_card(slack, timeout=15)
    assert "Draft: Write the outage note" in card.text
    bot.click(ids.APPROVE, card.approval_id, BOSS)
    assert "Approved." in report(slack, card)
    assert posted(slack, "Draft: Write the outage") == ["Draft: Write the outage note"]


def test_an_unknown_graph_in_the_policy_file_stops_start_up_naming_the_server(
    slack, openai, server, tmp_path
):
    policy = tmp_path / "policy.yaml"
    policy.write_text("graphs:\n  nowhere:\n    description: not served\n")
    env = {
        **graphs_env(slack, openai, f"sqlite:///{tmp_path / 'bot.db'}"),
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "LANGGRAPH_API_URL": server.url,
        "POLICY_FILE": str(policy),
    }
    bot = BotProcess(env, tmp_path / "bot.log", slack).start(wait=False)
    assert bot.proc is not None and bot.proc.wait(30) == 2
    assert "nowhere" in bot.log() and server.url in bot.log()


def test_the_webhook_refuses_unsigned_and_foreign_calls(start):
    bot = start()
    assert bot.http.post("/langgraph/webhook", json={}).status_code == 401
    forged = bot.http.post("/langgraph/webhook?thread=abc&sig=00", json={})
    assert forged.status_code == 401
    assert server_thread("abc") != "abc"
