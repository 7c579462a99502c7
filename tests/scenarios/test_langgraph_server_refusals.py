"""An answer the graph refuses, with the graph on a real LangGraph Server (``langgraph dev``), as
in process (tests/inprocess/test_answers_the_agent_refuses.py): the request is asked again, its
card says why, the decider is told once, the audit says the answer was sent and the agent refused
it (never that it was carried out), the same answer again is refused without reaching the graph,
and the next answer reaches it once and the run ends done."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.store.db import open_database
from tests.fakes.slack import FakeSlack
from tests.inprocess.test_answers_the_agent_refuses import PAIRS
from tests.support.botproc import BotProcess, free_port
from tests.support.byo import opened_view
from tests.support.cards import blocks_text, current, has_buttons, wait_card
from tests.support.databases import fresh_postgres
from tests.support.faults import wait_quiet, wait_until
from tests.support.forms import by_name
from tests.support.lgserver import LangGraphServer, serve_graph
from tests.support.slack_requests import SIGNING_SECRET

pytestmark = pytest.mark.xdist_group("langgraph_server")

REQ = "U0REQ"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[LangGraphServer, Path]]:
    project = tmp_path_factory.mktemp("seats")
    seen, never = project / "seen", str(project / "no-gate")  # the in-process test's graph
    source = PAIRS.format(seen=str(seen), gate=never, held=never, flaky=False)
    server = serve_graph(project, "seats", source)
    try:
        yield server, seen
    finally:
        server.stop()


@pytest.fixture
def bot(served, tmp_path) -> Iterator[tuple[BotProcess, FakeSlack, str]]:
    server, _ = served
    policy = tmp_path / "policy.yaml"
    policy.write_text("graphs: {}\n")
    with FakeSlack() as slack, fresh_postgres() as database_url:
        port = str(free_port())
        env = {
            "SLACK_BOT_TOKEN": slack.bot_token,
            "SLACK_API_URL": slack.api_url,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "DATABASE_URL": database_url,
            "PORT": port,
            "SCHEDULER_TICK": "1",
            "RETRY_AFTER": "2",
            "EXPIRE_AFTER": "1h",
            "POLICY_FILE": str(policy),
            "LANGGRAPH_API_URL": server.url,
            "LANGGRAPH_WEBHOOK_URL": f"http://127.0.0.1:{port}/langgraph/webhook",
        }
        running = BotProcess(env, tmp_path / "bot.log", slack).start()
        try:
            yield running, slack, database_url
        finally:
            running.stop()


def seen(path: Path) -> list[int]:
    return [int(n) for n in path.read_text().split()] if path.exists() else []


def answer(bot: BotProcess, slack: FakeSlack, approval_id: str, count: int) -> None:
    forms = len(slack.calls("views.open"))
    bot.click(ids.ANSWER, approval_id, REQ)
    opened_view(slack, forms + 1)
    values = by_name(("count",), {"count": str(count)})
    assert bot.submit(modals.ANSWER, approval_id, REQ, values).status_code == 200


def events(database_url: str) -> list[str]:
    db = open_database(database_url)
    try:
        rows = db.fetch_all("SELECT event FROM audit WHERE approval_id IS NOT NULL ORDER BY at")
    finally:
        db.close()
    return [r["event"] for r in rows]


def status(database_url: str) -> tuple[str, str]:
    db = open_database(database_url)
    try:
        run = db.fetch_one("SELECT status FROM runs")
        request = db.fetch_one("SELECT status FROM approvals")
    finally:
        db.close()
    return run["status"], request["status"]


def refused_lines(slack: FakeSlack) -> list[str]:
    said = [c.params.get("text", "") for c in slack.calls("chat.postMessage")]
    return [t for t in said if "refused the answer" in t]


def test_an_answer_the_server_graph_refuses_is_asked_again_and_the_next_runs_once(served, bot):
    _, seen_path = served
    running, slack, database_url = bot
    before = seen(seen_path)
    running.command("seats ticket 7", user=REQ)
    card = wait_card(slack, timeout=60)
    answer(running, slack, card.approval_id, 3)

    def asked_again() -> bool:
        shown = current(slack, card)
        return has_buttons(shown) and "refused the last answer" in blocks_text(shown["blocks"])

    wait_until(asked_again, "the card asks again", 60, running.log)
    wait_quiet(database_url)
    assert status(database_url) == ("waiting", "pending")
    text = blocks_text(current(slack, card)["blocks"])
    assert "seats come in pairs, not 3" in text
    [line] = refused_lines(slack)  # the decider is told, once, in the card's thread
    assert line.startswith(f"<@{REQ}>") and "seats come in pairs, not 3" in line
    assert "<!here>" not in line  # the graph's error, never a mention
    assert "hit an error" not in " ".join(c.params["text"] for c in slack.calls("chat.postMessage"))
    # The audit says the answer was sent to the server and the agent refused it; nothing
    # claims it was carried out.
    assert events(database_url) == ["requested", "answered", "sent", "refused_by_agent"]
    assert "never had its decision" not in running.log()
    assert seen(seen_path)[len(before) :] == [3]
    assert slack.ephemerals("C0REQ") == []  # the click was never said to be carried out

    # The same answer again is refused as it was, without reaching the graph (its click is
    # told at once, as in process).
    answer(running, slack, card.approval_id, 3)
    wait_until(lambda: len(refused_lines(slack)) == 2, "told again", 60, running.log)
    wait_until(asked_again, "the card asks again", 60, running.log)
    wait_quiet(database_url)
    assert status(database_url) == ("waiting", "pending")
    assert seen(seen_path)[len(before) :] == [3]
    [told] = slack.ephemerals("C0REQ")
    assert "The agent refused your answer: seats come in pairs, not 3" in told["text"]

    answer(running, slack, card.approval_id, 4)
    wait_until(lambda: status(database_url)[0] == "done", "the run ends", 60, running.log)
    slack.wait_for("chat.postMessage", lambda c: "booked 4" in c.params.get("text", ""))
    wait_quiet(database_url)
    assert seen(seen_path)[len(before) :] == [3, 4]  # the new answer, not the refused one, once
    assert status(database_url) == ("done", "answered")
    assert not has_buttons(current(slack, card))
    assert events(database_url) == [
        "requested",
        "answered",
        "sent",
        "refused_by_agent",
        "answered",
        "refused_by_agent",
        "answered",
        "sent",
    ]
    assert len(refused_lines(slack)) == 2
