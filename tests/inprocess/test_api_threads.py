"""API calls that wait (for a busy run, for the graph to take their decision) never take the
threads Slack's requests are answered on: with many API decisions waiting on a graph that holds
its step, a Slack click is still acked within Slack's 3 seconds and /healthz still answers."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bot.domain.models import RunRequest
from bot.http.api import MAX_DECIDING
from bot.slack.blocks import card as ids
from tests.support.cards import wait_cards
from tests.support.graph_files import ONE_STEP, STATE, graph_bot

REQ = "U0REQ"
TOKEN = "req-token-0123456789abcdef"
CALLS = 40  # Starlette's thread pool (anyio's default limiter) has 40 threads
UNDER_WAY = 8  # decisions claimed (their graph held) before the click

# The node holds while a file named GATE exists (a graph slow to take its step).
HOLDING = (
    """
import time
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

GATE = Path({gate!r})
"""
    + STATE
    + """

def ask(state: S) -> dict:
    interrupt({{"question": "Send it?", "request": state["request"]}})
    while GATE.exists():
        time.sleep(0.01)
    return {{"result": "sent"}}
"""
    + ONE_STEP
)


def _until(ready, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"not {what} within {timeout}s"
        time.sleep(0.02)


def test_api_decisions_waiting_on_a_slow_graph_do_not_hold_up_slack_s_acks(
    bot_in_process, fake_slack, tmp_path: Path
):
    gate = tmp_path / "gate"
    source = HOLDING.format(gate=str(gate))
    bot = graph_bot(
        bot_in_process,
        tmp_path,
        source,
        {"holding": "build"},
        "graphs: {}\n",
        API_TOKENS=f"req:{TOKEN}:{REQ}",
    )
    runs = [
        bot.deps.engine.start(RunRequest("holding", f"ship {n}", REQ, "C0REQ", "C0REQ"))
        for n in range(CALLS + 1)
    ]
    cards = wait_cards(fake_slack, CALLS + 1, timeout=60)
    [last] = bot.deps.store.run_approvals(runs[-1].thread_id)
    card = next(c for c in cards if c.approval_id == last.id)
    gate.touch()

    def decide(run) -> int:
        return bot.http.post(
            f"/api/runs/{run.thread_id}/decision",
            json={"decision": "approve"},
            headers={"Authorization": f"Bearer {TOKEN}"},
        ).status_code

    with bot.http, ThreadPoolExecutor(CALLS) as callers:  # one event loop, as under uvicorn
        calls = [callers.submit(decide, run) for run in runs[:CALLS]]
        _until(lambda: _decided(bot) >= UNDER_WAY, "claimed")
        started = time.monotonic()
        clicked = bot.click(ids.APPROVE, card.approval_id, REQ)
        acked_in = time.monotonic() - started
        health = bot.http.get("/healthz")
        gate.unlink()
        assert [c.result() for c in calls] == [200] * CALLS
    assert clicked.status_code == 200
    assert acked_in < 3, f"the click was acked after {acked_in:.1f}s"
    assert health.status_code in (200, 503)
    bot.settle()


def test_api_decisions_waiting_on_a_slow_graph_do_not_hold_up_other_api_calls(
    bot_in_process, fake_slack, tmp_path: Path
):
    """A decision waiting (up to decide_wait) for the graph to take it holds none of the API's
    threads: with UNDER_WAY of them waiting, reading another run is answered at once."""
    gate = tmp_path / "gate"
    bot = graph_bot(
        bot_in_process,
        tmp_path,
        HOLDING.format(gate=str(gate)),
        {"holding": "build"},
        "graphs: {}\n",
        API_TOKENS=f"req:{TOKEN}:{REQ}",
    )
    runs = [
        bot.deps.engine.start(RunRequest("holding", f"ship {n}", REQ, "C0REQ", "C0REQ"))
        for n in range(UNDER_WAY + 1)
    ]
    wait_cards(fake_slack, UNDER_WAY + 1, timeout=60)
    gate.touch()
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def decide(run) -> int:
        path = f"/api/runs/{run.thread_id}/decision"
        return bot.http.post(path, json={"decision": "approve"}, headers=auth).status_code

    with bot.http, ThreadPoolExecutor(UNDER_WAY) as callers:
        calls = [callers.submit(decide, run) for run in runs[:UNDER_WAY]]
        _until(lambda: _decided(bot) >= UNDER_WAY, "claimed")
        started = time.monotonic()
        read = bot.http.get(f"/api/runs/{runs[-1].thread_id}", headers=auth)
        read_in = time.monotonic() - started
        gate.unlink()
        assert [c.result() for c in calls] == [200] * UNDER_WAY
    assert read.status_code == 200
    assert read_in < 2, f"the run was read after {read_in:.1f}s"
    bot.settle()


def test_api_decisions_waiting_for_their_turn_do_not_hold_up_other_api_calls(
    bot_in_process, fake_slack, tmp_path: Path
):
    """Decisions past MAX_DECIDING wait for their turn holding none of the API's threads: with
    a user group's lookup slow in Slack, eight decisions at once, reading a run is answered."""
    fake_slack.usergroups["S0LEADS"] = [REQ]
    fake_slack.set_latency("usergroups.users.list", 4)
    bot = graph_bot(
        bot_in_process,
        tmp_path,
        HOLDING.format(gate=str(tmp_path / "gate")),
        {"holding": "build"},
        "graphs: {holding: {approvers: [S0LEADS]}}\n",
        API_TOKENS=f"req:{TOKEN}:{REQ}",
    )
    runs = [
        bot.deps.engine.start(RunRequest("holding", f"ship {n}", REQ, "C0REQ", "C0REQ"))
        for n in range(UNDER_WAY + 1)
    ]
    wait_cards(fake_slack, UNDER_WAY + 1, timeout=60)
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def decide(run) -> int:
        path = f"/api/runs/{run.thread_id}/decision"
        return bot.http.post(path, json={"decision": "approve"}, headers=auth).status_code

    with bot.http, ThreadPoolExecutor(UNDER_WAY) as callers:
        calls = [callers.submit(decide, run) for run in runs[:UNDER_WAY]]
        _until(lambda: len(fake_slack.calls("usergroups.users.list")) >= MAX_DECIDING, "asked")
        started = time.monotonic()
        read = bot.http.get(f"/api/runs/{runs[-1].thread_id}", headers=auth)
        read_in = time.monotonic() - started
        [c.result() for c in calls]
    assert read.status_code == 200
    assert read_in < 2, f"the run was read after {read_in:.1f}s"
    bot.settle()


def _decided(bot) -> int:
    """Requests no longer pending: claimed by a decision."""
    row = bot.deps.db.fetch_one("SELECT count(*) AS n FROM approvals WHERE status <> 'pending'")
    return int(row["n"])
