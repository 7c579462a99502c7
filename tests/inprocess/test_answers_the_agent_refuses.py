"""An answer accepted, claimed and handed to the graph, which its own code then refuses (the node
validates the value and raises): the run did not go past that step, so the request is asked
again, not retried with the same answer until the run is failed for good. The run stays paused
at the same interrupt, the card is pending again with a line saying the agent refused the answer
and why, the decider is told, the refusal is in the audit log, and whoever may decide it answers
again, once. An error that is not the graph refusing the value (a connection that dropped; a
tool that LangChain's per-call gate ran on the approval, raising after it acted) is a failure,
retried as before."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from tests.support import slack_requests as sr
from tests.support.byo import opened_view
from tests.support.cards import blocks_text, current, has_buttons, wait_card
from tests.support.forms import by_name
from tests.support.graph_files import ONE_STEP, STATE, graph_bot

REQ = "U0REQ"

# Seats come in pairs: the graph's own rule, past what its schema says. Every value the node is
# handed is written to SEEN, one a line; a file named GATE, when the test made one, holds the
# node until the test deletes it (a resume in flight, for the race below).
PAIRS = (
    """
import time
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field

SEEN = Path({seen!r})
GATE = Path({gate!r})
HELD = Path({held!r})
"""
    + STATE
    + """

class Seats(BaseModel):
    count: int = Field(ge=1, le=10, description="How many seats (1-10)")


def ask(state: S) -> dict:
    seats = interrupt({{"ticket": state["request"]}}, response_schema=Seats)
    with SEEN.open("a") as seen:
        seen.write(f"{{seats.count}}\\n")
    if GATE.exists():
        HELD.touch()
        while GATE.exists():
            time.sleep(0.01)
    if {flaky} and seats.count == 5 and SEEN.read_text().count("5") == 1:
        raise ConnectionError("the booking service dropped the connection")
    if seats.count % 2:
        raise ValueError(f"seats come in pairs, not {{seats.count}} <!here> & <@U0BOSS>")
    return {{"result": f"booked {{seats.count}}"}}
"""
    + ONE_STEP
)


def _bot(bot_in_process, tmp_path: Path, flaky: bool = False, **env: str):
    paths = {k: str(tmp_path / k) for k in ("seen", "gate", "held")}
    source = PAIRS.format(flaky=flaky, **paths)
    return graph_bot(bot_in_process, tmp_path, source, {"seats": "build"}, "graphs: {}\n", **env)


def _seen(tmp_path: Path) -> list[int]:
    seen = tmp_path / "seen"
    return [int(n) for n in seen.read_text().split()] if seen.exists() else []


def _status(bot) -> tuple[str, str]:
    run = bot.deps.db.fetch_one("SELECT status FROM runs")
    request = bot.deps.db.fetch_one("SELECT status FROM approvals")
    return run["status"], request["status"]


def _answer(bot, fake_slack, card, count: int, user: str = REQ):
    forms = len(fake_slack.calls("views.open"))
    bot.click(ids.ANSWER, card.approval_id, user)
    opened_view(fake_slack, forms + 1)  # this click's form, as the card now shows the request
    return bot.submit(
        modals.ANSWER, card.approval_id, user, by_name(("count",), {"count": str(count)})
    )


def _report(fake_slack) -> list[str]:
    return [
        c.params["text"]
        for c in fake_slack.calls("chat.postMessage")
        if "booked" in c.params["text"]
    ]


def test_an_answer_the_graph_refuses_asks_again_and_the_next_answer_runs_once(
    bot_in_process, fake_slack, tmp_path
):
    bot = _bot(bot_in_process, tmp_path, EXPIRE_AFTER="1h")
    bot.command("seats ticket 7", user=REQ)
    card = wait_card(fake_slack)
    _answer(bot, fake_slack, card, 3)
    bot.settle()

    assert _status(bot) == ("waiting", "pending")
    shown = current(fake_slack, card)
    assert has_buttons(shown)  # anyone who may decide it can answer again
    text = blocks_text(shown["blocks"])
    assert "The agent refused the last answer" in text
    assert "seats come in pairs, not 3 &lt;!here&gt; &amp; &lt;@U0BOSS&gt;" in text
    assert "Expires" in text  # its deadline stands again
    # The node wrote SEEN before it raised: the bot cannot know that nothing ran, only that
    # the run did not go past this step.
    said = [text, *(c.params["text"] for c in fake_slack.calls() if "text" in c.params)]
    assert not [s for s in said if "nothing ran" in s.lower()], said
    assert "The run did not go past this step; decide again." in text
    told = fake_slack.wait_for(
        "chat.postEphemeral", lambda c: c.params["user"] == REQ and "refused" in c.params["text"]
    )
    assert "seats come in pairs, not 3" in told[0].params["text"]
    assert "<!here>" not in told[0].params["text"]
    [line] = fake_slack.wait_for(
        "chat.postMessage", lambda c: "refused the answer" in c.params["text"]
    )
    assert line.params["thread_ts"] == card.ts and line.params["text"].startswith(f"<@{REQ}>")
    posted = " ".join(c.params["text"] for c in fake_slack.calls("chat.postMessage"))
    assert "hit an error" not in posted
    refused = bot.deps.db.fetch_all("SELECT * FROM audit WHERE event = 'refused_by_agent'")
    assert len(refused) == 1 and refused[0]["actor"] == "agent"
    assert "seats come in pairs" in json.loads(refused[0]["detail"])["error"]

    # Later sweeps leave it alone: nothing is retried with the refused answer.
    bot.tick(advance=600)
    bot.settle()
    assert _status(bot) == ("waiting", "pending")
    assert _seen(tmp_path) == [3]

    _answer(bot, fake_slack, card, 4)
    bot.settle()
    assert _status(bot) == ("done", "answered")
    assert _seen(tmp_path) == [3, 4]  # the new answer, not the refused one, once
    fake_slack.wait_for("chat.postMessage", lambda c: "booked 4" in c.params["text"])
    assert not has_buttons(current(fake_slack, card))
    bot.tick(advance=600)
    bot.settle()
    assert _seen(tmp_path) == [3, 4]
    assert len(_report(fake_slack)) == 1


def test_a_connection_error_after_the_answer_is_still_retried_with_it(
    bot_in_process, fake_slack, tmp_path
):
    bot = _bot(bot_in_process, tmp_path, flaky=True)
    bot.command("seats ticket 7", user=REQ)
    card = wait_card(fake_slack)
    _answer(bot, fake_slack, card, 5)
    bot.settle()
    assert bot.deps.db.fetch_one("SELECT status FROM approvals")["status"] == "answered"
    assert not has_buttons(current(fake_slack, card))  # not asked again: it is tried again
    # The retry hands the graph the same answer, which it then refuses: asked again.
    bot.tick_until(lambda: _status(bot) == ("waiting", "pending"), "reopen", advance=120)
    assert _seen(tmp_path) == [5, 5]


def test_a_click_racing_the_refused_answer_is_not_applied_twice(
    bot_in_process, fake_slack, tmp_path
):
    bot = _bot(bot_in_process, tmp_path)
    bot.command("seats ticket 7", user=REQ)
    card = wait_card(fake_slack)
    gate = tmp_path / "gate"
    gate.touch()
    _answer(bot, fake_slack, card, 3)
    _wait(lambda: (tmp_path / "held").exists())  # its resume is in the node now
    claimed = bot.deps.store.get_approval(card.approval_id)
    assert claimed is not None and claimed.status == "answered"
    # A second click while the first answer is in the graph: decided, for now.
    bot.click(ids.ANSWER, card.approval_id, REQ)
    fake_slack.wait_for("chat.postEphemeral", lambda c: "already decided" in c.params["text"])
    gate.unlink()
    bot.settle()
    assert _status(bot) == ("waiting", "pending")
    # A worker that read the claimed decision before it was refused (a sweep, a queued apply)
    # gets to it only now: the request is open again, so it resumes nothing.
    bot.deps.engine.apply(claimed)
    bot.settle()
    assert _status(bot) == ("waiting", "pending")
    assert _seen(tmp_path) == [3]

    # ... nor, once someone answered again, does it send the refused answer instead: it gets
    # the run's lock before the new answer's own apply does.
    run_lock = bot.deps.db.key_lock(claimed.thread_id)
    with ThreadPoolExecutor(1) as pool:
        taken, answered = threading.Event(), threading.Event()

        def stale_apply() -> None:
            with run_lock:
                taken.set()
                answered.wait(20)
                bot.deps.engine.apply(claimed)

        done = pool.submit(stale_apply)
        assert taken.wait(20)
        _answer(bot, fake_slack, card, 6)
        _wait(lambda: _status(bot)[1] == "answered")
        answered.set()
        done.result(30)
    bot.settle()
    assert _status(bot) == ("done", "answered")
    assert _seen(tmp_path) == [3, 6]
    fake_slack.wait_for("chat.postMessage", lambda c: "booked 6" in c.params["text"])
    assert len(_report(fake_slack)) == 1


def test_a_card_refresh_that_read_the_request_before_it_reopened_leaves_it_pending(
    bot_in_process, fake_slack, tmp_path
):
    """A scheduled refresh (a copy Slack failed to redraw, say) reads the request while its
    answer is in the graph, decided, and gets to Slack only after the graph refused the answer
    and the reopened card was drawn: the card it leaves is the pending one, buttons and all."""
    bot = _bot(bot_in_process, tmp_path)
    bot.command("seats ticket 7", user=REQ)
    card = wait_card(fake_slack)
    gate = tmp_path / "gate"
    gate.touch()
    _answer(bot, fake_slack, card, 3)
    _wait(lambda: (tmp_path / "held").exists())
    read = bot.deps.store.get_approval(card.approval_id)  # what the refresh job read
    assert read is not None and read.status == "answered"
    gate.unlink()
    bot.settle()
    assert _status(bot) == ("waiting", "pending") and has_buttons(current(fake_slack, card))

    bot.deps.cards.draw(read, spread=True)  # the refresh job's draw (bot.slack.scheduler)
    shown = current(fake_slack, card)
    assert has_buttons(shown)
    assert "The agent refused the last answer" in blocks_text(shown["blocks"])
    _answer(bot, fake_slack, card, 4)  # and it can be answered from there
    bot.settle()
    assert _status(bot) == ("done", "answered")


def _wait(ready, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.02)


VALIDATED = (
    """
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
from pydantic import BaseModel, Field, field_validator
"""
    + STATE
    + """

class Seats(BaseModel):
    count: int = Field(ge=1, le=10, description="How many seats (1-10)")

    @field_validator("count")
    @classmethod
    def in_pairs(cls, count: int) -> int:
        if count % 2:
            raise ValueError(f"seats come in pairs, not {count}")
        return count


def ask(state: S) -> dict:
    seats = interrupt({"ticket": state["request"]}, response_schema=Seats)
    return {"result": f"booked {seats.count}"}
"""
    + ONE_STEP
)


def test_an_answer_the_response_schema_s_own_check_refuses_is_asked_again(
    bot_in_process, fake_slack, tmp_path
):
    """A validator in the schema's model is not in its JSON schema, so the form cannot check
    it: LangGraph refuses the answer at the resume, and the request is asked again."""
    bot = graph_bot(bot_in_process, tmp_path, VALIDATED, {"seats": "build"}, "graphs: {}\n")
    bot.command("seats ticket 7", user=REQ)
    card = wait_card(fake_slack)
    _answer(bot, fake_slack, card, 3)
    bot.settle()
    assert _status(bot) == ("waiting", "pending")
    assert "seats come in pairs, not 3" in blocks_text(current(fake_slack, card)["blocks"])
    _answer(bot, fake_slack, card, 4)
    bot.settle()
    assert _status(bot) == ("done", "answered")
    fake_slack.wait_for("chat.postMessage", lambda c: "booked 4" in c.params["text"])


# A step that may be approved or edited, never rejected (as LangChain's HITL middleware refuses
# a decision type its tool does not allow): an expiry's rejection is refused by the graph.
NO_REJECT = (
    """
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt
"""
    + STATE
    + """

def ask(state: S) -> dict:
    answer = interrupt({"ticket": state["request"]})
    if answer["type"] not in ("approve", "edit"):
        raise ValueError(f"this step cannot be answered {answer['type']}")
    return {"result": "booked"}
"""
    + ONE_STEP
)


def test_an_expiry_the_graph_refuses_is_not_asked_again_with_no_deadline(
    bot_in_process, fake_slack, tmp_path
):
    """Nobody answered, and the graph refuses the expiry's rejection (HITL middleware refuses a
    decision type the tool does not allow): asking again would have no deadline left, and every
    later deadline would send the same rejection. The run stops there, its report saying why,
    and nothing is left open (tests/inprocess/test_expiries_the_agent_refuses.py: the rest)."""
    bot = graph_bot(
        bot_in_process,
        tmp_path,
        NO_REJECT,
        {"seats": "build"},
        "graphs: {}\n",
        EXPIRE_AFTER="60s",
        REMIND_AFTER="off",
    )
    bot.command("seats ticket 7", user=REQ)
    card = wait_card(fake_slack)
    bot.tick_until(lambda: _status(bot)[0] in ("done", "stopped"), "end the run", advance=30)
    assert not has_buttons(current(fake_slack, card)), "open again, and nothing expires it now"
    assert _status(bot) == ("done", "expired")
    said = " ".join(c.params["text"] for c in fake_slack.calls("chat.postMessage"))
    assert "refused the rejection" in said and "cannot be answered reject" in said
    assert "hit an error" not in said


# A refund: a rejection must say why in a sentence (the graph's own rule); what it ends with
# is written to SEEN. GATE, when the test made one, holds the node with its answer until the
# test deletes it.
REFUND = (
    """
import time
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

SEEN = Path({seen!r})
GATE = Path({gate!r})
HELD = Path({held!r})
"""
    + STATE
    + """

def ask(state: S) -> dict:
    answer = interrupt({{"order": state["request"], "amount": 250}})
    if GATE.exists():
        HELD.touch()
        while GATE.exists():
            time.sleep(0.01)
    if answer["type"] == "reject" and len(answer.get("reason") or "") < 10:
        raise ValueError("a rejection must say why, in a sentence")
    result = "refunded" if answer["type"] in ("approve", "edit") else "not refunded"
    with SEEN.open("a") as seen:
        seen.write(f"{{result}}\\n")
    return {{"result": result}}
"""
    + ONE_STEP
)


def test_a_rejection_the_graph_refuses_is_never_turned_into_an_approval_by_the_expiry(
    bot_in_process, fake_slack, tmp_path, clock
):
    """An approver rejected the refund just before its deadline; the graph refused the
    rejection (it wants a longer reason) after the deadline had passed. Reopened, the request must
    not then expire as approved: nobody said yes, and someone said no."""
    paths = {k: str(tmp_path / k) for k in ("seen", "gate", "held")}
    policy = "graphs:\n  refund:\n    expire_after: 60s\n    expire_as: approve\n"
    bot = graph_bot(
        bot_in_process,
        tmp_path,
        REFUND.format(**paths),
        {"refund": "build"},
        policy,
        REMIND_AFTER="off",
    )
    bot.command("refund order 42", user=REQ)
    card = wait_card(fake_slack)
    bot.settle()
    gate = tmp_path / "gate"
    gate.touch()
    clock.advance(55)
    bot.click(ids.REJECT, card.approval_id, REQ)
    opened_view(fake_slack, 1)
    bot.submit(modals.REJECT, card.approval_id, REQ, {modals.REASON_BLOCK: "no"})  # in time
    _wait(lambda: (tmp_path / "held").exists())  # the rejection is in the node
    clock.advance(30)  # the deadline passes while the graph holds it
    gate.unlink()
    bot.settle()
    bot.tick_until(
        lambda: not bot.deps.store.get_approval(card.approval_id).pending,
        "expire the request",
        advance=10,
    )
    bot.settle()
    seen = (tmp_path / "seen").read_text().split("\n") if (tmp_path / "seen").exists() else []
    assert "refunded" not in seen, "the expiry approved a refund an approver rejected"
    assert seen[0] == "not refunded"
    shown = blocks_text(current(fake_slack, card)["blocks"])
    assert "the agent refused the answer given" in shown, shown


# LangChain's per-call tool gate: the approved tool runs in the task that asked, right after the
# answer. This one posts the invoice (written to POSTED), then cannot read the reply (as
# ``resp.json()`` raises on an empty body): a ValueError from a call that acted, not a refusal.
INVOICES = """
from pathlib import Path

from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

POSTED = Path({posted!r})


@tool
def post_invoice(order: str) -> str:
    \"\"\"Send an order's invoice.\"\"\"
    with POSTED.open("a") as posted:
        posted.write(order + "\\n")
    raise {error}


def build():
    return create_agent(
        model=ChatOpenAI(model="gpt-4o-mini", timeout=10),
        tools=[post_invoice],
        middleware=[HumanInTheLoopMiddleware(
            interrupt_on={{"post_invoice": {{"allowed_decisions": ["approve", "reject"]}}}},
            interrupt_mode="per_call",
        )],
    )
"""


JSON_ERROR = 'ValueError("Expecting value: line 1 column 1 (char 0)")'
READ_TIMEOUT = 'TimeoutError("the server did not answer in time")'


@pytest.mark.parametrize("error", [JSON_ERROR, READ_TIMEOUT])
def test_a_gated_tool_that_acted_and_then_raised_is_a_failure_not_a_refusal(
    bot_in_process, fake_slack, fake_openai, tmp_path, error
):
    """Whatever it raised (one the same answer raises again, or one that may pass), a tool the
    per-call gate ran had begun to act: it is not run again by the sweep."""
    posted = tmp_path / "posted"
    source = INVOICES.format(posted=str(posted), error=error)
    bot = graph_bot(bot_in_process, tmp_path, source, {"invoices": "build"}, "graphs: {}\n")
    fake_openai.enqueue(tool_calls=[{"name": "post_invoice", "arguments": {"order": "A1"}}])
    bot.command("invoices send the invoice for A1", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, REQ)
    bot.settle()

    assert posted.read_text().split() == ["A1"]  # it ran
    assert _status(bot) == ("failed", "approved")  # not asked again as if nothing had
    assert not has_buttons(current(fake_slack, card))
    assert not bot.deps.db.fetch_all("SELECT * FROM audit WHERE event = 'refused_by_agent'")
    # The same value raises the same error, and the tool acted before it: not tried again by
    # the sweep (each try would post again), but reported at once, with Retry for a person.
    [failed] = _failures(fake_slack)
    assert error.split("(")[0] + ": " in failed.params["text"]
    assert "may have acted before it failed" in failed.params["text"]
    assert "Retry" in blocks_text(failed.params["blocks"])
    bot.tick(advance=3600)
    bot.settle()
    assert posted.read_text().split() == ["A1"], "the sweep ran the tool again"
    assert len(_failures(fake_slack)) == 1
    said = [c.params["text"] for c in fake_slack.calls() if "text" in c.params]
    said.append(blocks_text(current(fake_slack, card)["blocks"]))
    assert not [s for s in said if "refused" in s or "Nothing ran" in s], said
    assert _status(bot)[1] == "approved" and not has_buttons(current(fake_slack, card))


def _failures(fake_slack) -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if "hit an error" in c.params["text"]]


# A step after the decision that raises ``error`` while FLAKY exists, writing each run of it to
# RAN.
AFTER = (
    """
from pathlib import Path
from typing import TypedDict
from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

from bot.core.ledger import EffectRetry

RAN = Path({ran!r})
FLAKY = Path({flaky!r})
"""
    + STATE
    + """

def ask(state: S) -> dict:
    return {{"result": interrupt({{"draft": state["request"]}})}}


def act(state: S) -> dict:
    with RAN.open("a") as ran:
        ran.write("x\\n")
    if FLAKY.exists():
        {error}
    return {{"result": "sent"}}


def build():
    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_node("act", act)
    g.add_edge(START, "ask")
    g.add_edge("ask", "act")
    g.add_edge("act", END)
    return g
"""
)


def test_a_decision_given_up_at_its_first_attempt_is_applied_once_by_a_retry(
    bot_in_process, fake_slack, tmp_path
):
    ran, flaky = tmp_path / "ran", tmp_path / "flaky"
    flaky.touch()
    error = 'raise ValueError("Expecting value: line 1 column 1 (char 0)")'  # an empty reply
    bot = _after_bot(bot_in_process, tmp_path, error)
    bot.command("after send it", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, REQ)
    bot.settle()
    [failed] = _failures(fake_slack)
    assert "may have acted before it failed" in failed.params["text"]
    assert _status(bot) == ("failed", "approved") and ran.read_text().split() == ["x"]
    [button] = [e for b in failed.params["blocks"] if b["type"] == "actions" for e in b["elements"]]

    flaky.unlink()  # the upstream answers again
    assert bot.send(sr.retry_body(button["value"], REQ)).status_code == 200
    fake_slack.wait_for("chat.postEphemeral", lambda c: "Retrying run" in c.params["text"])
    bot.settle()
    assert _status(bot) == ("done", "approved")
    assert ran.read_text().split() == ["x", "x"]  # the retry, once
    applied = bot.deps.db.fetch_one("SELECT applied_at FROM approvals")["applied_at"]
    assert applied is not None
    bot.tick(advance=3600)
    bot.settle()
    assert ran.read_text().split() == ["x", "x"] and len(_failures(fake_slack)) == 1


def test_a_step_that_wraps_an_effect_s_retry_in_a_value_error_is_still_retried_by_the_sweep(
    bot_in_process, fake_slack, tmp_path
):
    bot, ran, flaky = _approved_into_a_retried_failure(bot_in_process, fake_slack, tmp_path)

    flaky.unlink()
    # Carried out by the decision's own retry, not just by the run moving on past it: the
    # stale-run sweep may step the run past the failed step first, and the decision's retry
    # then finds it done and marks it carried out at its own time (a tick or two later).
    bot.tick_until(
        lambda: _status(bot) == ("done", "approved") and _executed(bot) > 0,
        "retry it and mark the decision carried out",
        advance=120,
    )
    assert ran.read_text().split() == ["x", "x"] and not _failures(fake_slack)
    assert _executed(bot) == 1


def _approved_into_a_retried_failure(bot_in_process, fake_slack, tmp_path: Path):
    """A run approved whose next step failed in a way the sweep retries; the bot, the file
    each try of the step writes to, and the file whose removal lets the step succeed."""
    ran, flaky = tmp_path / "ran", tmp_path / "flaky"
    flaky.touch()
    # A node's own wrapping of an effect the ledger will try again (certainly not done).
    error = 'raise ValueError("could not send") from EffectRetry("Slack said ratelimited")'
    bot = _after_bot(bot_in_process, tmp_path, error, RETRY_AFTER="1")
    bot.command("after send it", user=REQ)
    card = wait_card(fake_slack)
    bot.click(ids.APPROVE, card.approval_id, REQ)
    bot.settle()
    assert ran.read_text().split() == ["x"] and not _failures(fake_slack)
    return bot, ran, flaky


def _executed(bot) -> int:
    return len(bot.deps.db.fetch_all("SELECT * FROM audit WHERE event = 'executed'"))


def _after_bot(bot_in_process, tmp_path: Path, error: str, **env: str):
    source = AFTER.format(ran=str(tmp_path / "ran"), flaky=str(tmp_path / "flaky"), error=error)
    return graph_bot(bot_in_process, tmp_path, source, {"after": "build"}, "graphs: {}\n", **env)


def test_a_run_the_stale_run_sweep_finished_before_its_decision_s_retry_is_done_once(
    bot_in_process, fake_slack, tmp_path
):
    """The ordering the sweep-retry test above waits out, forced: the stale-run sweep steps
    the run past the failed step and ends it first; the decision's own retry then finds the
    run ended and marks the decision carried out, without ending the run a second time."""
    bot, ran, flaky = _approved_into_a_retried_failure(bot_in_process, fake_slack, tmp_path)
    assert _executed(bot) == 0

    flaky.unlink()
    thread = bot.deps.db.fetch_one("SELECT thread_id FROM runs")["thread_id"]
    bot.deps.engine.advance(thread)  # what the stale-run sweep does with the run
    assert _status(bot) == ("done", "approved") and _executed(bot) == 0
    bot.tick_until(lambda: _executed(bot) > 0, "the decision's retry", advance=120)
    bot.settle()
    assert ran.read_text().split() == ["x", "x"] and not _failures(fake_slack)
    assert _executed(bot) == 1
    done = bot.deps.db.fetch_all("SELECT * FROM audit WHERE event = 'done'")
    assert len(done) == 1, done
