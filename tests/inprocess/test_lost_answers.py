"""A write before an ack whose answer was lost: the statement reached PostgreSQL (and may have
committed there), then the connection dropped (a failover, a restart of the server, a network
cut at that moment). The bot withdraws it before it answers, so "not recorded" stays true; when
it cannot, it says it cannot tell, and what it recorded is carried out later, once
(tests/support/pgproxy.py makes the cut)."""

from __future__ import annotations

import time

import pytest

from bot.slack.blocks import card as ids
from bot.slack.blocks import modals
from bot.slack.listeners import actions, commands
from bot.store.sql.runs import WITHDRAWN_RUN
from tests.support.cards import blocks_text, current, has_buttons, wait_card
from tests.support.lost import REQ, card_behind, sweeps, told
from tests.support.operations import ask, run_id_of
from tests.support.races import draft_posts

DRAFT = "Draft: Draft the release note"
ACK_WITHIN = 3.0  # Slack's limit: the undo has what is left of 2.5 s after the write began

pytestmark = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def test_a_click_whose_answer_was_lost_is_withdrawn_and_never_carried_out(
    bot_in_process, fake_slack, database_url, proxy
):
    """The click's write committed; the bot said "not recorded"; the recovery sweep found the
    row once the lease ran out, and carried the click out."""
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url)

    proxy.arm(b"INSERT INTO inbox")
    sent = time.monotonic()
    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200
    took = time.monotonic() - sent
    assert proxy.cut.wait(5), "the click's write never went through the proxy"
    assert took < ACK_WITHIN, f"answered after {took:.2f} s"
    fake_slack.wait_for(
        "chat.postEphemeral", lambda c: c.params.get("text") == actions.NOT_RECORDED
    )
    bot.settle()

    sweeps(bot)
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(card.approval_id)
    assert approval is not None and approval.status == "pending", approval
    assert draft_posts(fake_slack, DRAFT) == []
    assert bot.deps.db.fetch_one("SELECT count(*) AS n FROM inbox") == {"n": 0}

    # The person tries again, and it is done, once.
    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == DRAFT)
    bot.settle()
    assert len(draft_posts(fake_slack, DRAFT)) == 1


@pytest.mark.alone(units_beside=True)  # asserts an ack within Slack's 3 s
def test_a_withdrawal_whose_own_answer_was_lost_is_sent_again_and_the_click_told_unrecorded(
    bot_in_process, fake_slack, database_url, proxy
):
    """The withdrawal ran (the click's row deleted) and its answer was lost too: sent again,
    it finds the row gone and holds the id off, so "not recorded" is still what is true."""
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url)

    proxy.arm(b"INSERT INTO inbox", after=b"WITH gone AS")
    sent = time.monotonic()
    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200
    took = time.monotonic() - sent
    assert took < ACK_WITHIN, f"answered after {took:.2f} s"
    fake_slack.wait_for(
        "chat.postEphemeral", lambda c: c.params.get("text") == actions.NOT_RECORDED
    )
    assert proxy.dropped.count(b"Z\x00\x00\x00\x05") == 2, "both answers were to be lost"
    bot.settle()

    sweeps(bot)
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(card.approval_id)
    assert approval is not None and approval.status == "pending", approval
    assert draft_posts(fake_slack, DRAFT) == []
    held = bot.deps.db.fetch_all("SELECT attempts, done_at IS NOT NULL AS done FROM inbox")
    assert held == [{"attempts": 0, "done": True}]


def test_agent_whose_answer_was_lost_is_withdrawn_and_starts_nothing(
    bot_in_process, fake_slack, database_url, proxy
):
    """The same for ``/agent``: told "nothing was started", yet the stale-run sweep started it
    (and posted its card) a minute later."""
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url))
    proxy.arm(b"INSERT INTO runs")
    answer = bot.command("Draft the release note", user=REQ)
    assert proxy.cut.wait(5), "the command's write never went through the proxy"
    assert answer.status_code == 200
    assert answer.json() == {"response_type": "ephemeral", "text": commands.NOT_STARTED}
    bot.settle()

    sweeps(bot)
    assert bot.deps is not None
    assert bot.deps.db.fetch_all("SELECT thread_id, status FROM runs") == []
    assert fake_slack.calls("chat.postMessage") == []


def test_a_click_still_on_its_way_when_withdrawn_is_refused_on_arrival(
    bot_in_process, fake_slack, database_url, proxy
):
    """The cut came before the server had the statement: withdrawing finds no row to delete,
    so it takes the click's id first, and the statement, arriving after, is refused."""
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url)

    proxy.arm(b"INSERT INTO inbox", late=1.0)
    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200
    fake_slack.wait_for(
        "chat.postEphemeral", lambda c: c.params.get("text") == actions.NOT_RECORDED
    )
    assert proxy.cut.wait(5), "the click's write never reached the server"
    assert b"23505" in proxy.dropped  # unique_violation: the withdrawn click's id was taken
    bot.settle()

    sweeps(bot)
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(card.approval_id)
    assert approval is not None and approval.status == "pending", approval
    assert draft_posts(fake_slack, DRAFT) == []
    held = bot.deps.db.fetch_all("SELECT attempts, done_at IS NOT NULL AS done FROM inbox")
    assert held == [{"attempts": 0, "done": True}]


def test_agent_still_on_its_way_when_withdrawn_is_refused_on_arrival(
    bot_in_process, fake_slack, database_url, proxy
):
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url))
    proxy.arm(b"INSERT INTO runs", late=1.0)
    answer = bot.command("Draft the release note", user=REQ)
    assert answer.json() == {"response_type": "ephemeral", "text": commands.NOT_STARTED}
    assert proxy.cut.wait(5), "the command's write never reached the server"
    assert b"23505" in proxy.dropped
    bot.settle()

    sweeps(bot)
    assert bot.deps is not None
    runs = bot.deps.db.fetch_all("SELECT status, result FROM runs")
    assert runs == [{"status": "cancelled", "result": WITHDRAWN_RUN}]
    assert fake_slack.calls("chat.postMessage") == []


@pytest.mark.alone(units_beside=True)  # asserts an ack within Slack's 3 s
def test_a_click_that_cannot_be_withdrawn_is_not_called_unrecorded_and_is_carried_out_once(
    bot_in_process, fake_slack, database_url, proxy
):
    """The server went away with the answer: nothing can be withdrawn in time. The person is
    told the bot cannot tell, and, the click having been recorded, it is carried out once the
    database is back, as they were told."""
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url)

    proxy.arm(b"INSERT INTO inbox", down=True)
    sent = time.monotonic()
    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200
    took = time.monotonic() - sent
    assert took < ACK_WITHIN, f"answered after {took:.2f} s"
    fake_slack.wait_for("chat.postEphemeral", lambda c: c.params.get("text") == actions.UNCONFIRMED)
    assert not told(fake_slack, actions.NOT_RECORDED)
    proxy.restore()
    bot.settle()

    # The pool reconnects with its own backoff after the outage: a minute, at most, here.
    carried_out = lambda: len(draft_posts(fake_slack, DRAFT)) > 0  # noqa: E731
    bot.tick_until(carried_out, "the click carried out", 61, timeout=30)
    bot.settle()
    sweeps(bot)
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(card.approval_id)
    assert approval is not None and approval.status == "approved", approval
    assert approval.decided_by == REQ
    assert len(draft_posts(fake_slack, DRAFT)) == 1


@pytest.mark.alone(units_beside=True)  # asserts an ack within Slack's 3 s
def test_agent_that_cannot_be_withdrawn_is_not_called_unstarted_and_starts_once(
    bot_in_process, fake_slack, database_url, proxy
):
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url))
    proxy.arm(b"INSERT INTO runs", down=True)
    sent = time.monotonic()
    answer = bot.command("Draft the release note", user=REQ)
    took = time.monotonic() - sent
    assert took < ACK_WITHIN, f"answered after {took:.2f} s"
    channel = answer.json()["text"].partition("<#")[2].partition(">")[0]
    assert answer.json() == {
        "response_type": "ephemeral",
        "text": commands.UNCONFIRMED.format(channel),
    }
    proxy.restore()
    bot.settle()

    # The pool reconnects with its own backoff after the outage: a minute, at most, here.
    started = lambda: bool(fake_slack.calls("chat.postMessage"))  # noqa: E731
    bot.tick_until(started, "the run started", 61, timeout=30)
    wait_card(fake_slack)
    bot.settle()
    sweeps(bot)
    assert bot.deps is not None
    assert [r["status"] for r in bot.deps.db.fetch_all("SELECT status FROM runs")] == ["waiting"]
    assert len(fake_slack.calls("chat.postMessage")) == 1


def revise_form_open(bot_in_process, fake_slack, database_url: str):
    """A draft's first card, and its "Request changes" form open (the graph drafts again and
    pauses for round 2 once it is submitted): the bot and that card."""
    bot = bot_in_process(DATABASE_URL=database_url, REMIND_AFTER="off")
    bot.command("Invite everyone to the offsite", user=REQ)
    round1 = wait_card(fake_slack)
    bot.settle()
    bot.click(ids.CHOICE_PREFIX + "revise", round1.approval_id, REQ)
    fake_slack.wait_for("views.open")
    bot.settle()
    return bot, round1


def card_posts(fake_slack) -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if "blocks" in c.params]


@pytest.mark.parametrize("late", [0.0, 1.0], ids=["committed", "commit-on-its-way"])
def test_a_decision_whose_applied_mark_lost_its_answer_still_moves_the_run_on(
    bot_in_process, fake_slack, database_url, proxy, late
):
    """The decision is marked applied, so no sweep comes back to it: the attempt that marked it
    reads the mark back and publishes what the graph asks next (here round 2's card). The
    COMMIT may still be on its way when the bot sees the connection drop (``late``): the read
    waits for it rather than find the mark missing and call the run failed."""
    bot, round1 = revise_form_open(bot_in_process, fake_slack, proxy.url(database_url))
    proxy.arm(b"AND apply_fence = $", then=b"COMMIT", late=late)  # MARK_APPLIED_FENCED's
    bot.submit(modals.CHOICE, f"{round1.approval_id}:revise", REQ, {"notes": "mention lunch"})
    assert proxy.cut.wait(10), "the applied mark never went through the proxy"
    bot.settle()
    sweeps(bot)  # they have their chance too (nothing is left for them)

    assert bot.deps is not None
    approval = bot.deps.store.get_approval(round1.approval_id)
    assert approval is not None and approval.applied_at is not None
    run = bot.deps.store.get_run(approval.thread_id)
    assert run is not None and run.status == "waiting"
    assert len(card_posts(fake_slack)) == 2  # round 2's card
    events = [e.event for e in bot.deps.engine.journal.audit.for_run(approval.thread_id)]
    assert events.count("executed") == 1 and "failed" not in events


@pytest.mark.parametrize("down", [False, True], ids=["withdrawn", "unknown"])
def test_an_api_start_whose_answer_was_lost_is_a_503_that_says_whether_to_send_it_again(
    bot_in_process, fake_slack, database_url, proxy, down
):
    """Never a 500: withdrawn, the caller may simply send it again; unknown, it may have been
    recorded (and goes ahead once), so the answer says to look first."""
    token = "req-token-0123456789abcdef"
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url), API_TOKENS=f"req:{token}:{REQ}")
    fake_slack.set_members("C0REQ", [REQ])
    proxy.arm(b"INSERT INTO runs", down=down)
    body = {"request": "Draft the release note", "channel": "C0REQ"}
    answer = bot.http.post("/api/runs", json=body, headers={"Authorization": f"Bearer {token}"})
    assert proxy.cut.wait(5), "the start's write never went through the proxy"
    assert answer.status_code == 503, answer.text
    assert answer.json()["retry"] is (not down)
    assert ("nothing was recorded" in answer.json()["error"]) is (not down)
    proxy.restore()


@pytest.mark.alone(units_beside=True)  # asserts an ack within Slack's 3 s
def test_a_submission_whose_write_lost_its_answer_is_acked_within_3_s_however_long_it_read(
    bot_in_process, fake_slack, database_url, proxy, monkeypatch
):
    """A submission reads its request before its write (a quick read may wait 1.5 s for a
    connection); the withdrawal of a write whose answer was lost has what is left of 2.5 s from
    the request's arrival, not from the write's start, so Slack still has its answer in 3 s."""
    bot, round1 = revise_form_open(bot_in_process, fake_slack, proxy.url(database_url))

    assert bot.deps is not None
    store = bot.deps.store
    read = store.get_approval

    def slow_quick_read(approval_id, quick=False):
        if quick:
            time.sleep(0.8)  # a busy pool: the connection came after 0.8 s (at most 1.5 s)
        return read(approval_id, quick=quick)

    monkeypatch.setattr(store, "get_approval", slow_quick_read)
    proxy.arm(b"INSERT INTO inbox", down=True)
    sent = time.monotonic()
    answer = bot.submit(modals.CHOICE, f"{round1.approval_id}:revise", REQ, {"notes": "lunch"})
    took = time.monotonic() - sent
    proxy.restore()
    # Bolt gives up on an ack after 3 s and answers 404 {"error": "unhandled request"}.
    assert (answer.status_code, took < ACK_WITHIN) == (200, True), (
        f"{answer.text} after {took:.2f}s"
    )


def report_of(fake_slack) -> list[str]:
    return [
        c.params.get("text", "")
        for c in fake_slack.calls("chat.postMessage")
        if "blocks" not in c.params and c.params.get("text") != DRAFT
    ]


@pytest.mark.parametrize("statement", [b"INSERT INTO effects"], ids=["begin"])
def test_an_effect_whose_start_mark_lost_its_answer_is_carried_out_once_not_called_unknown(
    bot_in_process, fake_slack, database_url, proxy, statement
):
    """The effect's "started" mark committed and its answer was lost, so the effect itself was
    never sent. It certainly did not happen: the sweep carries it out, once (before: it was
    reported "outcome unknown ... not retried", and the approved draft was never posted)."""
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url)

    proxy.arm(statement)
    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200
    assert proxy.cut.wait(10), "the effect's start never went through the proxy"
    bot.settle()
    posted = lambda: len(draft_posts(fake_slack, DRAFT)) > 0  # noqa: E731
    bot.tick_until(posted, "the draft posted", 61, timeout=30)
    bot.settle()
    sweeps(bot)

    assert len(draft_posts(fake_slack, DRAFT)) == 1
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(card.approval_id)
    assert approval is not None and approval.applied_at is not None
    run = bot.deps.store.get_run(approval.thread_id)
    assert run is not None and run.status == "done", run
    assert not any("nknown" in text for text in report_of(fake_slack)), report_of(fake_slack)


def test_a_claim_whose_answer_was_lost_is_carried_out_within_seconds_without_a_sweep(
    bot_in_process, fake_slack, database_url, proxy
):
    """The click's claim committed (it closed the click with it) and its answer was lost. The
    claim is read back: won, the decision is carried out at once (before: the click's retry
    found its entry closed and did nothing, and the card kept its buttons until a sweep found
    the claimed decision, a minute later)."""
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url)
    assert bot.deps is not None
    bot.deps.engine.inbox.again_after = 0.2  # a retry, if any, comes at once

    proxy.arm(b"WITH counted AS")  # CLAIM_BEGIN's
    assert bot.click(ids.APPROVE, card.approval_id, REQ).status_code == 200
    assert proxy.cut.wait(10), "the claim never went through the proxy"
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("text") == DRAFT, timeout=10)
    bot.settle()
    sweeps(bot)

    assert len(draft_posts(fake_slack, DRAFT)) == 1
    assert not has_buttons(current(fake_slack, card))
    assert fake_slack.calls("chat.postEphemeral") == []
    approval = bot.deps.store.get_approval(card.approval_id)
    assert approval is not None and approval.status == "approved", approval


def test_a_cancel_whose_answer_was_lost_is_said_done_and_its_card_closed_at_once(
    bot_in_process, fake_slack, database_url, proxy
):
    """``/agent cancel`` committed, and its answer was lost. The cancel is read back: the
    person hears it was cancelled and the card loses its buttons at once (before: told "I
    couldn't look that up ... try again" about a run that was cancelled, its card still
    offering Approve until a sweep a minute later)."""
    bot, card = card_behind(proxy, bot_in_process, fake_slack, database_url)
    run = run_id_of(fake_slack, card)

    proxy.arm(b"UPDATE runs SET status = 'cancelled'", then=b"COMMIT")  # CANCEL_RUN's
    assert ask(fake_slack, bot, f"cancel {run}") == f"Cancelled run `{run}`."
    assert proxy.cut.wait(10), "the cancel never went through the proxy"
    bot.settle()

    assert "Cancelled* by" in blocks_text(current(fake_slack, card)["blocks"])
    assert not has_buttons(current(fake_slack, card))
    cancelled = f"Run `{run}` was cancelled by <@{REQ}>. Nothing more will run."
    sweeps(bot)
    said = [c for c in fake_slack.calls("chat.postMessage") if c.params["text"] == cancelled]
    assert len(said) == 1
    assert draft_posts(fake_slack, DRAFT) == []


def test_an_expiry_whose_claim_lost_its_answer_closes_the_card_at_once(
    bot_in_process, fake_slack, database_url, proxy
):
    """The expiry's claim committed and its answer was lost. It is read back and carried out
    by the same tick (before: the card kept its buttons, and the run waited, until the recovery
    sweep found the claimed decision a minute later; the job ended "cancelled")."""
    bot = bot_in_process(
        DATABASE_URL=proxy.url(database_url), EXPIRE_AFTER="60s", REMIND_AFTER="off"
    )
    bot.command("Draft the release note", user=REQ)
    card = wait_card(fake_slack)
    bot.settle()

    proxy.arm(b"WITH claimed AS")  # CLAIM_CLOSING's
    bot.tick(advance=65)
    assert proxy.cut.wait(10), "the expiry's claim never went through the proxy"
    bot.settle()

    assert "Expired" in blocks_text(current(fake_slack, card)["blocks"])
    assert not has_buttons(current(fake_slack, card))
    assert bot.deps is not None
    approval = bot.deps.store.get_approval(card.approval_id)
    assert approval is not None and approval.applied_at is not None
    jobs = bot.deps.db.fetch_all("SELECT kind, status FROM jobs")
    assert jobs == [{"kind": "expire", "status": "done"}]
    sweeps(bot)
    assert draft_posts(fake_slack, DRAFT) == []
    assert len(fake_slack.calls("chat.update")) == 1


def test_a_request_whose_record_lost_its_answer_is_asked_and_the_run_not_called_failed(
    bot_in_process, fake_slack, database_url, proxy
):
    """The run paused and its request was recorded (one transaction), and the answer to its
    COMMIT was lost. It is read back and its card posted as usual (before: the run was marked
    failed and the requester told it "hit an error: OperationalError", and then the card sweep
    posted the card of that "failed" run anyway)."""
    bot = bot_in_process(DATABASE_URL=proxy.url(database_url))
    proxy.arm(b"INSERT INTO approvals", then=b"COMMIT")
    bot.command("Draft the release note", user=REQ)
    assert proxy.cut.wait(10), "the request's record never went through the proxy"
    card = wait_card(fake_slack)
    bot.settle()
    sweeps(bot)

    assert not [
        c for c in fake_slack.calls("chat.postMessage") if "hit an error" in c.params["text"]
    ]
    assert len(card_posts(fake_slack)) == 1
    assert bot.deps is not None
    run = bot.deps.store.get_run(bot.deps.store.get_approval(card.approval_id).thread_id)
    assert run is not None and run.status == "waiting", run
    events = [e.event for e in bot.deps.engine.journal.audit.for_run(run.thread_id)]
    assert events == ["started", "requested"]
