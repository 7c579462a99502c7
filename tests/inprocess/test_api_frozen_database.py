"""The HTTP approval API on a database that froze (its server process stopped, or packets
swallowed: nothing comes back, not even an error). Left to itself, a call waited on the frozen
connection for ever, and a few of them held every one of the API's threads. Each call hears a
503 in a few seconds instead, saying the database did not answer; a decision whose write may
have reached the server hears that it may have been recorded (read the run back), never that it
was refused; and once the server is back the API answers as before
(tests/support/pgproxy.py freezes the server: the bytes wait, the connections stay open)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Any

import pytest

from bot.domain.models import RunRequest
from bot.http.api_patience import (
    API_THREADS,
    NO_ANSWER,
    UNKNOWN,
    Silence,
    may_be_recorded,
    patiently,
)
from bot.store.db import NoAnswer, OutcomeUnknown, WriteWithdrawn, postgres_pool
from bot.store.db.base import STATEMENT_WITHIN
from tests.support.lost import REQ, card_behind, sweeps
from tests.support.races import draft_posts
from tests.support.statements import counting

pytestmark = [
    pytest.mark.parametrize("database_url", ["postgres"], indirect=True),
    pytest.mark.alone(units_beside=True),  # asserts answers within a few seconds
]

TOKEN = "req-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Seconds, where a call used to wait for ever: its own statement's wait, behind at most one
# round of calls on the API's threads, each as long.
ANSWERED_WITHIN = 2 * STATEMENT_WITHIN + 1.5
DRAFT = "Draft: Draft the release note"
CLAIM = b"WITH claimed AS ("  # the decision's claim (bot.store.sql.decisions.CLAIM_CLOSING)
INSERT_RUN = b"INSERT INTO runs ("  # a start's write (bot.store.sql.runs.INSERT_RUN)


def api_bot(proxy, bot_in_process, fake_slack, database_url):
    """A bot behind ``proxy`` with the API on, the run of a draft waiting for REQ's decision."""
    api = {"REMIND_AFTER": "off", "API_TOKENS": f"req:{TOKEN}:{REQ}"}
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url, **api)
    fake_slack.set_members("C0REQ", [REQ])
    approval = bot.deps.store.get_approval(card.approval_id)
    return bot, approval.thread_id


def busy(bot, monkeypatch) -> None:
    """The pool as on a busy bot: every connection open, and back moments ago, so each is
    handed out without a liveness check (one the frozen server leaves unanswered ends in "no
    connection" before the call sent anything: a silence already)."""
    monkeypatch.setattr(postgres_pool, "RECENT", 60.0)
    pool = bot.deps.db.pool
    taken = [pool.getconn() for _ in range(pool.max_size)]
    for conn in taken:
        pool.putconn(conn)


def timed(call) -> tuple[Any, float]:
    sent = time.monotonic()
    answer = call()
    return answer, time.monotonic() - sent


def while_frozen(bot, proxy, calls, at: bytes | None = None) -> list[tuple[Any, float]]:
    """Each of ``calls``' answer and the seconds it took, sent at once with the server frozen
    (from the first message containing ``at``, if given), and /healthz's, last. The server is
    thawed when they have all been answered, or after ANSWERED_WITHIN (then the calls still
    waiting end, and the test fails on them)."""
    proxy.freeze(at)
    with bot.http, ThreadPoolExecutor(len(calls)) as callers:  # one event loop, as under uvicorn
        try:
            sent = [callers.submit(timed, call) for call in calls]
            wait(sent, timeout=ANSWERED_WITHIN)
            health = timed(lambda: bot.http.get("/healthz"))
            assert proxy.frozen.is_set(), "nothing reached the frozen server"
        finally:
            proxy.thaw()
        answers = [s.result() for s in sent]
    slowest = max(took for _, took in answers)
    assert slowest < ANSWERED_WITHIN, f"the slowest API call was answered in {slowest:.1f}s"
    return [*answers, health]


def test_api_calls_on_a_frozen_database_hear_503_in_a_few_seconds_and_normal_answers_after(
    bot_in_process, fake_slack, database_url, proxy
):
    bot, run = api_bot(proxy, bot_in_process, fake_slack, database_url)
    reads = API_THREADS + 4  # more than the API's threads: none of them is held for good
    calls = [lambda: bot.http.get(f"/api/runs/{run}", headers=AUTH)] * reads
    calls.append(
        lambda: bot.http.post(
            f"/api/runs/{run}/decision", json={"decision": "reject"}, headers=AUTH
        )
    )
    start = {"request": "Draft the release note", "channel": "C0REQ"}
    calls.append(lambda: bot.http.post("/api/runs", json=start, headers=AUTH))

    *reads_answered, decided, started, health = while_frozen(bot, proxy, calls)
    for answer, _ in [*reads_answered, decided]:  # nothing was written: come again
        assert answer.status_code == 503, answer.text
        assert answer.json() == {"error": NO_ANSWER, "retry": True}
        assert int(answer.headers["Retry-After"]) > 0
    # A start's write may have reached the server (and may run when it wakes), or found no
    # connection to go out on, as the pool's were all taken by the reads.
    answer, _ = started
    assert answer.status_code == 503, answer.text
    assert answer.json() in (
        {"error": UNKNOWN, "retry": False},
        {"error": NO_ANSWER, "retry": True},
    )
    answer, took = health
    assert answer.status_code in (200, 503) and took < 2, (answer.text, took)

    bot.settle()
    read = bot.http.get(f"/api/runs/{run}", headers=AUTH)  # the server is back
    assert read.status_code == 200, read.text
    assert [p["request"] for p in read.json()["pending"]]
    path = f"/api/runs/{run}/decision"
    decided = bot.http.post(path, json={"decision": "approve"}, headers=AUTH)
    assert decided.status_code == 200 and decided.json()["decided"] is True, decided.text
    bot.settle()


def test_calls_that_waited_for_a_thread_while_the_database_said_nothing_hear_503_at_their_turn(
    bot_in_process, fake_slack, database_url, proxy
):
    """Three times as many calls as the API has threads: those that wait for a thread while
    the calls ahead of them go unanswered are answered at their turn, without asking the
    frozen server again, so the last is answered about as soon as the first (it used to wait a
    full round for each round of calls ahead of it); and once the server is back, calls go to
    it again."""
    bot, run = api_bot(proxy, bot_in_process, fake_slack, database_url)
    calls = [lambda: bot.http.get(f"/api/runs/{run}", headers=AUTH)] * (3 * API_THREADS)

    *answered, _ = while_frozen(bot, proxy, calls)
    for answer, _ in answered:
        assert answer.status_code == 503, answer.text
        assert answer.json() == {"error": NO_ANSWER, "retry": True}
    slowest = max(took for _, took in answered)
    assert slowest < STATEMENT_WITHIN + 1.5, f"the last call was answered in {slowest:.1f}s"

    read = bot.http.get(f"/api/runs/{run}", headers=AUTH)  # the server is back
    assert read.status_code == 200, read.text


def test_starts_that_waited_for_a_thread_while_the_database_said_nothing_hear_503_at_their_turn(
    bot_in_process, fake_slack, database_url, proxy, monkeypatch
):
    """The same for starts alone, on a busy bot's pool (so every write of a round goes out): a
    start's write (a quick write, not a session's) left unanswered is a silence too, and a start
    that waited for its thread meanwhile (for its Slack membership check or for its write)
    sends nothing and hears "nothing started" at its turn (the last used to wait a full round of
    writes for each round ahead of it); those whose write went out hear it may have started."""
    bot, _ = api_bot(proxy, bot_in_process, fake_slack, database_url)
    busy(bot, monkeypatch)
    start = {"request": "Draft the release note", "channel": "C0REQ"}
    calls = [lambda: bot.http.post("/api/runs", json=start, headers=AUTH)] * (3 * API_THREADS)
    checked = len(fake_slack.calls("conversations.members"))

    *answered, _ = while_frozen(bot, proxy, calls)
    checked = len(fake_slack.calls("conversations.members")) - checked
    slowest = max(took for _, took in answered)
    assert slowest < STATEMENT_WITHIN + 1.5, f"the last call was answered in {slowest:.1f}s"
    for answer, _ in answered:
        assert answer.status_code == 503, answer.text
    said = [answer.json() for answer, _ in answered]
    unknown = said.count({"error": UNKNOWN, "retry": False})
    assert unknown + said.count({"error": NO_ANSWER, "retry": True}) == len(calls), said
    # Only a call whose write reached the server says the run may have started; one that
    # waited through the silence asked Slack nothing either.
    assert proxy.held.count(INSERT_RUN) == unknown <= API_THREADS
    assert checked == unknown, f"{checked} membership checks for {unknown} starts sent"

    started = bot.http.post("/api/runs", json=start, headers=AUTH)  # the server is back
    assert started.status_code == 201, started.text
    bot.settle()


def test_an_api_decision_whose_write_froze_may_have_been_recorded_and_is_carried_out_once(
    bot_in_process, fake_slack, database_url, proxy
):
    """The claim reached the frozen server, which runs (and commits) it once it wakes: the
    caller is told it may have been recorded and to read the run back, never "refused"."""
    bot, run = api_bot(proxy, bot_in_process, fake_slack, database_url)

    path = f"/api/runs/{run}/decision"
    decide = lambda: bot.http.post(path, json={"decision": "approve"}, headers=AUTH)  # noqa: E731
    [(answer, _), _] = while_frozen(bot, proxy, [decide], at=CLAIM)
    assert answer.status_code == 503, answer.text
    assert answer.json() == {"error": UNKNOWN, "retry": False}
    assert "Retry-After" not in answer.headers  # sending it again is not what to do

    bot.settle()
    bot.tick_until(lambda: len(draft_posts(fake_slack, DRAFT)) > 0, "carry it out", 61)
    sweeps(bot)
    read = bot.http.get(f"/api/runs/{run}", headers=AUTH)
    assert read.status_code == 200, read.text
    assert [d["status"] for d in read.json()["decided"]] == ["approved"]
    assert len(draft_posts(fake_slack, DRAFT)) == 1


def test_a_step_after_a_decision_s_write_that_waited_through_a_silence_may_have_been_recorded(
    bot_in_process, fake_slack, database_url
):
    """A call that waited for its thread while the database left another unanswered sends
    nothing; it is as if its first statement went unanswered, so a step after the call's
    write (reading the decision back to answer it) says the decision may have been recorded,
    never "nothing changed"; and a call queued after the silence goes to the database."""
    bot = bot_in_process()
    store = bot.deps.store
    heard = time.monotonic()
    earlier, later = heard - 1, heard + 1

    def read_back() -> Any:
        with may_be_recorded():
            return store.get_approval("nothing-of-that-id")

    with counting() as statements:
        statements.recording = True
        with pytest.raises(OutcomeUnknown):
            patiently(Silence(at=heard), earlier, read_back)
        with pytest.raises(NoAnswer):
            patiently(Silence(at=heard), earlier, store.get_approval, "nothing-of-that-id")
        statements.recording = False
    assert statements.ours == [], statements.report()
    assert patiently(Silence(at=heard), later, read_back) is None


def test_a_start_that_waited_through_a_silence_sends_nothing_and_says_nothing_started(
    bot_in_process, database_url
):
    """POST /api/runs records its run with a write before an answer (``execute_quick``'s
    kin), not through a session: a start that waited for its thread while the database left
    another call unanswered sends nothing either, and hears "nothing changed" at once, rather
    than sending its write to the silent server and hearing, seconds later, that the run may
    have started."""
    bot = bot_in_process()
    heard = time.monotonic()
    asked = RunRequest("draft", "Draft the release note", REQ, "C0REQ", "C0REQ")

    with counting() as statements:
        statements.recording = True
        with pytest.raises(NoAnswer):
            patiently(Silence(at=heard), heard - 1, bot.deps.engine.start, asked)
        statements.recording = False
    assert statements.ours == [], statements.report()
    assert bot.deps.store.runs_of(REQ) == []


def test_a_start_whose_connection_broke_after_its_write_is_no_silence(
    bot_in_process, database_url, proxy
):
    """Only a statement the database left unanswered is a silence: a start whose connection
    broke once its write was taken (the server answered, the answer was lost) failed fast, and
    the calls that waited for a thread meanwhile still go to the database."""
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url))
    silence = Silence()
    asked = RunRequest("draft", "Draft the release note", REQ, "C0REQ", "C0REQ")

    proxy.arm(INSERT_RUN)
    with pytest.raises((WriteWithdrawn, OutcomeUnknown)):
        patiently(silence, time.monotonic(), bot.deps.engine.start, asked)
    assert proxy.cut.is_set()
    assert silence.at == float("-inf")
