"""An acknowledged click is never lost, with things breaking for real: a SIGTERM in the middle
of a storm of approvals, Slack failing a share of all calls for a while, and the PostgreSQL
server going away and coming back while the bot keeps running. Each test is bounded in time."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.slack.listeners.actions import NOT_RECORDED
from tests.fakes.slack import TIMEOUT, FakeSlack
from tests.support import slack_requests as sr
from tests.support.burst import Ack, fire_at_once, requester, wait_for_cards
from tests.support.cards import Card, approval_id_of, blocks_text, current, has_buttons
from tests.support.faults import (
    cards_recorded,
    effects_with_status,
    leftovers,
    more_ticks,
    private_postgres,
    wait_quiet,
    wait_until,
)

REQ = "U0REQ"
UNKNOWN_OUTCOME = "outcome unknown"


# What Slack really did (a call answered with a fault did nothing) -------------------------------


def card_posts(slack: FakeSlack) -> Counter[str]:
    """Approval id -> how many cards Slack really posted for it."""
    return Counter(
        approval_id_of(c.params.get("blocks") or []) or ""
        for c in slack.calls("chat.postMessage")
        if c.ok and approval_id_of(c.params.get("blocks") or []) is not None
    )


def draft_posts(slack: FakeSlack, request: str) -> int:
    text = f"Draft: {request}"
    return sum(1 for c in slack.calls("chat.postMessage") if c.ok and c.params.get("text") == text)


def is_decided(slack: FakeSlack, card: Card) -> bool:
    message = current(slack, card)
    return not has_buttons(message) and "Approved* by" in blocks_text(message["blocks"])


def fire_staggered(
    url: str, bodies: list[bytes], every: float, sent: list[int] | None = None
) -> list[Ack]:
    """POST each body to ``/slack/events`` ``every`` seconds apart, each on its own connection,
    without waiting for the answers; the answers in order. ``sent`` gets each body's index as
    its request goes out (for a caller waiting on the wave's progress)."""
    results: list[Ack | None] = [None] * len(bodies)

    def one(i: int, body: bytes) -> None:
        start = time.perf_counter()
        try:
            with httpx.Client(base_url=url, timeout=10) as client:
                if sent is not None:
                    sent.append(i)
                response = client.post("/slack/events", content=body, headers=sr.sign(body))
            results[i] = Ack(response.status_code, time.perf_counter() - start)
        except httpx.HTTPError as exc:
            results[i] = Ack(None, time.perf_counter() - start, repr(exc))

    threads = []
    for i, body in enumerate(bodies):
        thread = threading.Thread(target=one, args=(i, body))
        thread.start()
        threads.append(thread)
        time.sleep(every)
    for thread in threads:
        thread.join()
    return [r for r in results if r is not None]


def assert_all_done(slack: FakeSlack, cards: list[Card], requests: list[str]) -> None:
    """Every card posted once and shown decided, every draft posted once, one report each."""
    posts = card_posts(slack)
    for card, request in zip(cards, requests, strict=True):
        assert posts[card.approval_id] == 1, (request, posts[card.approval_id])
        assert is_decided(slack, card), blocks_text(current(slack, card)["blocks"])
        assert draft_posts(slack, request) == 1, request
        [report] = slack.replies(card.channel, card.ts)
        assert report["text"].startswith("Approved. Posted to"), report["text"]


# (A) SIGTERM during a storm of approvals -------------------------------------------------------

STORM = 20
GRACE = 3


@pytest.mark.timeout(150)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # production's database
def test_sigterm_during_a_storm_of_approvals_applies_every_acked_click_once(
    start_bot, fake_slack, database_url
):
    env = {"SHUTDOWN_GRACE": str(GRACE), "RETRY_AFTER": "1"}
    bot = start_bot(**env)
    requests = [f"Storm item {i:02d}" for i in range(STORM)]
    commands = fire_at_once(
        bot.url, [sr.command_body(text, requester(i)) for i, text in enumerate(requests)]
    )
    assert [a.status for a in commands] == [200] * STORM
    cards = wait_for_cards(fake_slack, requests, timeout=60)
    cards_recorded(database_url, [c.approval_id for c in cards])

    # Slow Slack down so that work is still in flight when the signal lands, and more of it is
    # queued than the grace period lets finish.
    fake_slack.set_latency("chat.postMessage", 1.0)
    fake_slack.set_latency("chat.update", 0.3)
    clicks = [
        sr.click_body(ids.APPROVE, card.approval_id, requester(i), card.channel, card.ts)
        for i, card in enumerate(cards)
    ]
    half = STORM // 2
    first = fire_at_once(bot.url, clicks[:half], timeout=10)
    assert [a.status for a in first] == [200] * half
    # The second half arrives one click every 40 ms, and the signal lands in the middle of it.
    assert bot.proc is not None
    with ThreadPoolExecutor(1) as pool:
        sent: list[int] = []
        wave = pool.submit(fire_staggered, bot.url, clicks[half:], 0.04, sent)
        wait_until(lambda: len(sent) >= half // 2, "half the second wave sent", 20, bot.log)
        signalled = time.monotonic()
        bot.proc.send_signal(signal.SIGTERM)
        second = wave.result()
    code = bot.proc.wait(timeout=GRACE + 10)
    stopped_after = time.monotonic() - signalled
    assert code == 0, bot.log()
    assert "stopped" in bot.log()

    acks = first + second
    acked = [card for card, ack in zip(cards, acks, strict=True) if ack.status == 200]
    assert all(a.status in (200, None) for a in second), second  # acked, or refused at the door
    done_before = sum(draft_posts(fake_slack, r) for r in requests)
    print(
        f"SIGTERM: {len(acked)}/{STORM} clicks acked, exit {code} after {stopped_after:.1f}s, "
        f"{done_before} drafts posted before exit"
    )

    fake_slack.set_latency("chat.postMessage", 0)
    fake_slack.set_latency("chat.update", 0)
    again = start_bot(**env)
    restarted = time.monotonic()
    # A click the old process held under its inbox lease (30 s) comes back when the lease ends.
    wait_until(
        lambda: all(is_decided(fake_slack, c) for c in acked),
        "every acknowledged click applied after the restart",
        timeout=60,
        log=again.log,
    )
    applied_after = time.monotonic() - restarted
    # Nothing half done; a click the old process had taken comes back when its lease ends.
    wait_until(
        lambda: leftovers(database_url) == {},
        "nothing left half done",
        timeout=45,
        log=lambda: f"{leftovers(database_url)}\n{again.log()}",
    )
    print(
        f"after restart: acked clicks applied within {applied_after:.1f}s, "
        f"nothing left half done within {time.monotonic() - restarted:.1f}s"
    )
    wait_quiet(database_url)  # nothing under way: a second post of anything would show by now

    # Effects cut off by the exit stay "started" and are never retried (effects.py): a draft
    # post among them is reported as of unknown outcome; Slack may or may not have done it.
    cut_off = [row["key"].rsplit(":", 1)[1] for row in effects_with_status(database_url, "started")]
    assert set(cut_off) <= {"post", "report"}, cut_off
    posts = card_posts(fake_slack)
    assert sorted(posts) == sorted(c.approval_id for c in cards)
    assert set(posts.values()) == {1}, posts  # no card posted again after the restart
    unknown = missing_reports = 0
    for card, request in zip(cards, requests, strict=True):
        reports = fake_slack.replies(card.channel, card.ts)
        drafts = draft_posts(fake_slack, request)
        if not is_decided(fake_slack, card):  # a click refused at the door: nothing happened
            assert card not in acked
            assert has_buttons(current(fake_slack, card))
            assert (drafts, reports) == (0, [])
            continue
        assert len(reports) <= 1, reports
        missing_reports += not reports
        if reports and UNKNOWN_OUTCOME in reports[0]["text"]:
            unknown += 1
            assert drafts <= 1, request
        else:
            assert drafts == 1, (request, reports)
        assert not reports or reports[0]["text"].startswith("Approved."), reports
    assert cut_off.count("post") == unknown
    assert missing_reports <= cut_off.count("report")  # cut off before Slack had it
    applied = sum(1 for c in cards if is_decided(fake_slack, c))
    print(
        f"after restart: {applied} applied; effects cut off by the exit: {Counter(cut_off)}; "
        f"{unknown} drafts reported as of unknown outcome, {missing_reports} reports missing"
    )


# (B) Slack failing a share of all calls for a while ---------------------------------------------

RUNS = 10
WINDOW = 12.0  # seconds of faults


@pytest.mark.timeout(150)
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_slack_failing_for_a_while_posts_everything_once_and_cards_end_right(
    start_bot, fake_slack, database_url
):
    bot = start_bot(RETRY_AFTER="1", SCHEDULER_TICK="1")
    requests = [f"Window item {i:02d}" for i in range(RUNS)]
    clicked: dict[str, Card] = {}
    refused: list[str] = []

    def approve_new_cards() -> None:
        """Click Approve on every card Slack shows that nobody clicked yet."""
        for call in fake_slack.calls("chat.postMessage"):
            approval_id = approval_id_of(call.params.get("blocks") or [])
            if not call.ok or approval_id is None or approval_id in clicked:
                continue
            assert call.response is not None
            card = Card(
                approval_id,
                str(call.response["channel"]),
                str(call.response["ts"]),
                call.params["blocks"],
            )
            user = next(requester(i) for i, r in enumerate(requests) if f"Draft: {r}" in card.text)
            # From the posted card (BotProcess.click would take the first post's channel/ts,
            # and a post that failed has none).
            response = bot.click(ids.APPROVE, approval_id, user, channel=card.channel, ts=card.ts)
            if response.status_code != 200:
                refused.append(f"{approval_id}: {response.status_code}")
            clicked[approval_id] = card

    # The answers by which Slack says it did nothing. A post answered 500 may have landed, so
    # an effect's post is then reported as of unknown outcome, not repeated
    # (tests/test_effect_outcomes.py): it would not end "posted once" here.
    fake_slack.fail_randomly(0.7, statuses=(429, 503), seed=20240611)
    started = time.monotonic()
    for i, text in enumerate(requests):  # runs start, and decisions land, inside the window
        assert bot.command(text, user=requester(i)).status_code == 200
        approve_new_cards()
        time.sleep(0.4)
    while time.monotonic() - started < WINDOW:
        approve_new_cards()
        time.sleep(0.2)
    fake_slack.stop_failing()
    faulted = Counter(c.fault for c in fake_slack.faulted())
    in_window = len(clicked)

    wait_until(
        lambda: (approve_new_cards(), len(clicked) == RUNS)[1],
        "a card for every run (and each clicked)",
        timeout=40,
        log=bot.log,
    )
    cards = [next(c for c in clicked.values() if f"Draft: {r}" in c.text) for r in requests]

    def settled() -> bool:
        return all(
            is_decided(fake_slack, card)
            and draft_posts(fake_slack, request) >= 1
            and fake_slack.replies(card.channel, card.ts)
            for card, request in zip(cards, requests, strict=True)
        )

    wait_until(settled, "every card decided, draft posted, thread told", 60, bot.log)
    recovered = time.monotonic() - started
    wait_quiet(database_url)  # nothing under way: a second post of anything would show by now

    assert refused == []
    assert card_posts(fake_slack) == {c.approval_id: 1 for c in cards}
    assert_all_done(fake_slack, cards, requests)
    assert leftovers(database_url) == {}
    log = bot.log_path.read_text(errors="replace")
    retried = {
        "card posts failed": log.count("background work failed"),
        "card updates queued": log.count("queued a retry"),
        "effects to retry": log.count("will retry"),
    }
    print(
        f"Slack faults for {WINDOW:.0f}s: {dict(faulted)} injected; {in_window}/{RUNS} cards "
        f"clicked inside the window; bot-level retries {retried}; all settled "
        f"{recovered:.1f}s after the window opened"
    )
    assert sum(faulted.values()) > 0


# (C) PostgreSQL stopped and started while the bot runs -----------------------------------------


@pytest.fixture
def postgres_server():
    """A PostgreSQL server of this test's own, so stopping it disturbs no other test."""
    with private_postgres() as server:
        yield server


def not_recorded_notes(slack: FakeSlack, user: str) -> int:
    return sum(
        1
        for c in slack.calls("chat.postEphemeral")
        if c.ok and c.params.get("user") == user and c.params.get("text") == NOT_RECORDED
    )


@pytest.mark.alone(units_beside=True)  # asserts an ack within Slack's 3 s
@pytest.mark.timeout(120)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # unused: see DATABASE_URL
def test_postgres_restart_while_running_answers_clicks_clearly_and_recovers(
    start_bot, fake_slack, postgres_server
):
    url = postgres_server.url
    bot = start_bot(DATABASE_URL=url, RETRY_AFTER="1", SCHEDULER_TICK="1")
    assert bot.proc is not None
    pid = bot.proc.pid
    requests = ["Outage item one", "Outage item two"]
    for text in requests:
        assert bot.command(text, user=REQ).status_code == 200
    cards = wait_for_cards(fake_slack, requests, timeout=30)
    cards_recorded(url, [c.approval_id for c in cards])
    one, two = cards

    postgres_server.stop()
    try:
        began = time.perf_counter()
        response = bot.click(ids.APPROVE, one.approval_id, REQ, channel=one.channel, ts=one.ts)
        answered = time.perf_counter() - began
        assert response.status_code == 200
        assert answered < 3.0, f"the ack took {answered:.2f}s; Slack gives up after 3s"
        fake_slack.wait_for(
            "chat.postEphemeral",
            lambda c: c.params["user"] == REQ and c.params["text"] == NOT_RECORDED,
            timeout=10,
        )
        # The health check says what is wrong, so a platform stops routing here meanwhile (as
        # soon as its background probe, every second here, has found out).
        wait_until(
            lambda: bot.http.get("/healthz").status_code == 503,
            "the health check to notice the outage",
            timeout=5,
            log=bot.log,
        )
        health = bot.http.get("/healthz")
        assert health.status_code == 503, health.text
        assert health.json()["reason"] == "the database is not answering"
        assert str(postgres_server.port) not in health.text  # the error's detail is logged only
        assert has_buttons(current(fake_slack, one)) and has_buttons(current(fake_slack, two))
        time.sleep(1)  # the outage lasts a few seconds
    finally:
        postgres_server.start()
    restarted = time.monotonic()
    print(f"outage: Approve acked in {answered:.2f}s")
    wait_until(
        lambda: bot.http.get("/healthz").status_code == 200,
        "the health check to pass again",
        timeout=30,
        log=bot.log,
    )

    # The person tries again until the bot has its database back; it was never restarted.
    tries = 0
    deadline = time.monotonic() + 45
    while not is_decided(fake_slack, one):
        assert time.monotonic() < deadline, f"card one never decided:\n{bot.log()}"
        notes = not_recorded_notes(fake_slack, REQ)
        assert (
            bot.click(ids.APPROVE, one.approval_id, REQ, channel=one.channel, ts=one.ts).status_code
            == 200
        )
        tries += 1
        wait_until(
            lambda n=notes: is_decided(fake_slack, one) or not_recorded_notes(fake_slack, REQ) > n,
            "an answer to the click",
            timeout=15,
            log=bot.log,
        )
        if not is_decided(fake_slack, one):
            time.sleep(1)
    back_after = time.monotonic() - restarted
    assert (
        bot.click(ids.APPROVE, two.approval_id, REQ, channel=two.channel, ts=two.ts).status_code
        == 200
    )
    wait_until(
        lambda: all(
            is_decided(fake_slack, c) and fake_slack.replies(c.channel, c.ts) for c in cards
        ),
        "both cards decided and reported",
        timeout=30,
        log=bot.log,
    )
    wait_quiet(url)  # nothing under way: a second post of anything would show by now
    assert_all_done(fake_slack, cards, requests)
    assert bot.proc.poll() is None and bot.proc.pid == pid  # recovered without a restart
    assert bot.http.get("/healthz").status_code == 200
    wait_until(lambda: leftovers(url) == {}, "nothing left half done", 40, bot.log)
    print(
        f"after the restart of PostgreSQL: click recorded after {tries} tries, "
        f"{back_after:.1f}s; {not_recorded_notes(fake_slack, REQ)} 'not recorded' notes"
    )


@pytest.mark.alone(units_beside=True)  # asserts answers within Slack's 3 s
@pytest.mark.timeout(90)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # unused: see DATABASE_URL
def test_postgres_outage_answers_submissions_and_commands_at_once_and_applies_nothing_late(
    start_bot, fake_slack, postgres_server
):
    url = postgres_server.url
    bot = start_bot(DATABASE_URL=url, RETRY_AFTER="1", SCHEDULER_TICK="1")
    bot.command("Outage item three", user=REQ)
    [card] = wait_for_cards(fake_slack, ["Outage item three"], timeout=30)
    cards_recorded(url, [card.approval_id])

    postgres_server.stop()
    try:
        with ThreadPoolExecutor(2) as pool:
            submit = pool.submit(
                timed, lambda: bot.submit(modals.REJECT, card.approval_id, REQ, {"reason": "x"})
            )
            command = pool.submit(timed, lambda: bot.command("Started in the dark", user=REQ))
            (rejected, reject_took), (started, start_took) = submit.result(), command.result()
        time.sleep(1)
    finally:
        postgres_server.start()
    print(
        f"outage: Reject submission answered {rejected.status_code} in {reject_took:.2f}s, "
        f"/agent answered {started.status_code} in {start_took:.2f}s"
    )
    # What a person sees at once: the modal says it was not recorded; /agent says it did not
    # start. Neither may then happen behind their back once the database is back.
    assert reject_took < 3.0 and start_took < 3.0
    assert rejected.status_code == 200 and "Not recorded" in rejected.text
    assert started.status_code == 200 and started.text
    # The database is back: a few sweeps later, with nothing under way, nothing happened late.
    more_ticks([bot], 3)
    wait_quiet(url)
    assert has_buttons(current(fake_slack, card))
    assert card_posts(fake_slack) == {card.approval_id: 1}


def timed(request: Callable[[], httpx.Response]) -> tuple[httpx.Response, float]:
    began = time.perf_counter()
    response = request()
    return response, time.perf_counter() - began


# (B') Slack timing out, the card post done but its answer never heard: in process, with
# ticks the test makes (tests/inprocess/test_slack_timeouts.py).


# The fault mode itself -------------------------------------------------------------------------


def test_fake_slack_fails_a_share_of_calls_and_what_failed_did_nothing(fake_slack):
    def post(client: httpx.Client, method: str = "chat.postMessage") -> httpx.Response:
        return client.post(method, data={"channel": "C1", "text": "hi"})

    headers = {"Authorization": f"Bearer {fake_slack.bot_token}"}
    with httpx.Client(base_url=fake_slack.api_url, headers=headers, timeout=5) as client:
        fake_slack.fail_randomly(1.0, statuses=(500,), methods=["chat.postMessage"])
        failed = post(client)
        assert failed.status_code == 500 and "Retry-After" in failed.headers
        assert post(client, "chat.postEphemeral").status_code == 200  # not among ``methods``
        assert fake_slack.messages("C1") == []
        fake_slack.fail_randomly(1.0, statuses=(429,), retry_after=None)
        limited = post(client)
        assert limited.status_code == 429 and limited.json()["error"] == "ratelimited"
        assert "Retry-After" not in limited.headers
        fake_slack.fail_randomly(1.0, statuses=(TIMEOUT,), hang=0.3)
        began = time.monotonic()
        assert post(client).json()["ok"]  # held, then done: a client with a timeout gives up
        assert time.monotonic() - began >= 0.3
        fake_slack.stop_failing()
        assert post(client).json()["ok"]
    calls = fake_slack.calls("chat.postMessage")
    assert [(c.status, c.fault, c.ok) for c in calls] == [
        (500, "500", False),
        (429, "429", False),
        (200, "timeout", True),
        (200, None, True),
    ]
    assert len(fake_slack.messages("C1")) == 2
    assert [c.fault for c in fake_slack.faulted()] == ["500", "429", "timeout"]

    def draws(seed: int) -> list[str | None]:
        fake_slack.reset()
        fake_slack.fail_randomly(0.5, statuses=(429, 500, 503), seed=seed)
        with httpx.Client(base_url=fake_slack.api_url, headers=headers, timeout=5) as client:
            for _ in range(20):
                post(client)
        return [c.fault for c in fake_slack.calls()]

    first = draws(7)
    assert first == draws(7) and 0 < first.count(None) < 20  # repeatable for one sequence
    assert set(first) <= {None, "429", "500", "503"}
