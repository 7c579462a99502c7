"""Reminders, escalations and expiry (bot.slack.scheduler) with a clock the test moves, on
both databases: the real engine (fake graph), the real Slack client against the fake Slack
server. Each job runs once when due and never before; a job Slack fails is put back, not
lost; a request decided or past its deadline is reminded of no more."""

from __future__ import annotations

import threading

from bot.core import outcomes
from bot.domain.models import Decision
from bot.domain.signoff import Stage
from bot.domain.timeline import Level, PlannedJob, Policy
from bot.slack.scheduler import Scheduler
from bot.store.db.base import ACK_WINDOW

MINUTE = 60.0


def _replies(fake_slack, approval):
    return fake_slack.replies(approval.channel, approval.ts)


def test_a_reminder_falls_due_once_in_the_cards_thread(build, clock, fake_slack):
    s = build(Policy(remind_after=10 * MINUTE, expire_after=None))
    _, approval = s.start(requester="U0ASKER")

    clock.advance(10 * MINUTE - 1)
    assert s.scheduler.tick() == 0
    assert _replies(fake_slack, approval) == []

    clock.advance(2)
    assert s.scheduler.tick() == 1
    [reminder] = _replies(fake_slack, approval)
    assert reminder["text"].startswith(":alarm_clock: <@U0ASKER> this ")
    assert reminder["text"].endswith("this draft has been waiting 601s for a decision.")

    clock.advance(MINUTE)
    assert s.scheduler.tick() == 0  # done: never again
    assert len(_replies(fake_slack, approval)) == 1
    assert s.ticks == [1, 1, 1]


def test_an_escalation_goes_to_its_channel_with_a_link_and_the_card_says_so(
    build, clock, fake_slack
):
    level = Level(after=30 * 60, to=("U0ONCALL",), channel="C0ESC")
    s = build(Policy(remind_after=None, expire_after=None, levels=(level,)))
    _, approval = s.start()

    clock.advance(30 * MINUTE + 1)
    assert s.scheduler.tick() == 1

    [escalation] = fake_slack.messages("C0ESC")
    assert escalation["text"].startswith(":rotating_light: Escalation level 1: <@U0ONCALL>")
    assert "|Open the request>" in escalation["text"]
    card = fake_slack.message(approval.channel, approval.ts)
    assert "Escalated to <@U0ONCALL> (level 1)" in str(card["blocks"])
    assert [j.status for j in s.parts.store.jobs_for(approval.id)] == ["done"]


def test_an_unanswered_request_expires_as_its_policy_says(build, clock, fake_slack):
    s = build(Policy(remind_after=None, expire_after=3600, expire_as="approve"))
    run, approval = s.start()

    clock.advance(3600 + ACK_WINDOW)
    assert s.scheduler.tick() == 1

    expired = s.parts.approval(approval.id)
    assert (expired.status, expired.decided_by) == ("expired", "scheduler")
    [(_, _, resumed)] = s.parts.graph.answers
    assert (resumed.type, resumed.effective_type) == ("expire", "approve")
    assert s.parts.store.get_run(run.thread_id).status == "done"
    card = fake_slack.message(approval.channel, approval.ts)
    assert all(b.get("type") != "actions" for b in card["blocks"])  # no buttons left


def test_the_expiry_runs_once_the_ack_window_after_its_deadline_is_over(build, clock, fake_slack):
    s = build(Policy(remind_after=None, expire_after=3600))
    _, approval = s.start()

    # Past the deadline, a click received before it may still be being written: not yet.
    clock.advance(3600 + ACK_WINDOW - 0.5)
    assert s.scheduler.tick() == 0
    assert s.parts.approval(approval.id).pending

    clock.advance(0.5)
    assert s.scheduler.tick() == 1
    assert s.parts.approval(approval.id).status == "expired"
    [expiry] = s.parts.store.jobs_for(approval.id)
    assert expiry.due_at == approval.created_at + 3600  # the deadline itself did not move


def test_after_an_outage_past_the_deadline_only_the_expiry_speaks(build, clock, fake_slack):
    s = build(Policy(remind_after=600, expire_after=3600))
    _, approval = s.start()

    clock.advance(5 * 3600)  # the bot was down through the reminder and the deadline
    s.scheduler.tick()

    assert s.parts.approval(approval.id).status == "expired"
    assert not any(":alarm_clock:" in r["text"] for r in _replies(fake_slack, approval))
    statuses = {j.kind: j.status for j in s.parts.store.jobs_for(approval.id)}
    assert statuses == {"remind": "cancelled", "expire": "done"}


def test_a_decided_request_is_reminded_of_no_more(build, clock, fake_slack):
    s = build(Policy(remind_after=600, expire_after=3600))
    _, approval = s.start(requester="U0ASKER")
    s.parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))

    clock.advance(2 * 3600)
    assert s.scheduler.tick() == 0

    assert not any(":alarm_clock:" in r["text"] for r in _replies(fake_slack, approval))
    assert s.parts.approval(approval.id).status == "approved"


def test_a_reminder_slack_fails_is_put_back_and_sent_later(build, clock, fake_slack):
    s = build(Policy(remind_after=600, expire_after=None))
    _, approval = s.start()
    clock.advance(601)
    fake_slack.fail_next("chat.postMessage", status=200, error="internal_error", retry_after=None)

    assert s.scheduler.tick() == 1
    [job] = s.parts.store.jobs_for(approval.id)
    # Put back: tried again after its backoff (the job keeps its due time; it is not late).
    assert job.status == "pending" and job.due_at < clock()
    assert _replies(fake_slack, approval) == []
    clock.advance(5)
    assert s.scheduler.tick() == 0  # not before the backoff

    clock.advance(60)
    assert s.scheduler.tick() == 1
    assert len(_replies(fake_slack, approval)) == 1
    assert [j.status for j in s.parts.store.jobs_for(approval.id)] == ["done"]


def test_reminders_due_together_in_one_channel_are_one_digest(build, clock, fake_slack):
    s = build(Policy(remind_after=600, expire_after=None))
    _, first = s.start(requester="U0ANN")
    _, second = s.start(requester="U0BOB")
    before = len(fake_slack.messages("C0CARDS"))

    clock.advance(601)
    assert s.scheduler.tick() == 2

    digests = fake_slack.messages("C0CARDS")[before:]
    [digest] = digests
    assert digest["text"].startswith(":alarm_clock: 2 requests are waiting for a decision:")
    assert "<@U0ANN>" in digest["text"] and "<@U0BOB>" in digest["text"]
    assert _replies(fake_slack, first) == [] and _replies(fake_slack, second) == []


def test_a_refresh_job_redraws_the_card(build, clock, fake_slack):
    s = build(Policy(remind_after=None, expire_after=None))
    _, approval = s.start(requester="U0ASKER")
    fake_slack.fail_next("chat.update", status=200, error="internal_error", retry_after=None)
    s.parts.engine.decide(approval.id, Decision("reject", "U0ASKER"))  # its redraw fails
    [job] = s.parts.store.jobs_for(approval.id)
    assert job.kind == "refresh"

    assert s.scheduler.tick() == 1

    card = fake_slack.message(approval.channel, approval.ts)
    assert all(b.get("type") != "actions" for b in card["blocks"])
    assert [j.status for j in s.parts.store.jobs_for(approval.id)] == ["done"]


def test_after_an_outage_no_digest_calls_for_requests_past_their_deadline(build, clock, fake_slack):
    s = build(Policy(remind_after=600, expire_after=3600))
    _, first = s.start(requester="U0ANN")
    _, second = s.start(requester="U0BOB")
    before = len(fake_slack.messages("C0CARDS"))

    clock.advance(5 * 3600)
    s.scheduler.tick()

    assert {s.parts.approval(a.id).status for a in (first, second)} == {"expired"}
    assert not any(":alarm_clock:" in m["text"] for m in fake_slack.messages("C0CARDS")[before:])


def test_two_processes_ticking_at_once_send_each_reminder_once(build, clock, fake_slack):
    import threading

    s = build(Policy(remind_after=600, expire_after=None))
    approvals = [s.start(requester=f"U0P{n}")[1] for n in range(6)]
    other = Scheduler(
        s.parts.store,
        s.parts.engine,
        s.scheduler.slack,
        lambda: None,
        s.scheduler.cards,
        s.parts.engine.journal,
        batch=1,  # one job a claim: the two interleave
    )
    s.scheduler.batch = 1
    clock.advance(601)
    barrier = threading.Barrier(2)
    done: list[int] = []

    def tick(scheduler: Scheduler) -> None:
        barrier.wait(10)
        done.append(scheduler.tick())

    threads = [threading.Thread(target=tick, args=(x,)) for x in (s.scheduler, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    assert sum(done) == 6
    for approval in approvals:
        assert len(_replies(fake_slack, approval)) == 1, approval.id


def test_escalation_levels_repeat_and_without_a_channel_go_to_the_cards(build, clock, fake_slack):
    levels = (
        Level(after=600, to=("S0ONCALL",), channel=None, repeat=1, every=300),
        Level(after=1800, to=("U0CTO",), channel="C0ESC"),
    )
    s = build(Policy(remind_after=None, expire_after=None, levels=levels))
    _, approval = s.start()
    posted = len(fake_slack.messages("C0CARDS"))

    for seconds, jobs in ((601, 1), (300, 1), (900, 1), (3600, 0)):
        clock.advance(seconds)
        assert s.scheduler.tick() == jobs

    first, again = fake_slack.messages("C0CARDS")[posted:]
    assert first["text"].startswith(":rotating_light: Escalation level 1: <!subteam^S0ONCALL>")
    assert again["text"].startswith(
        ":rotating_light: Escalation level 1, reminder 2: <!subteam^S0ONCALL>"
    )
    [top] = fake_slack.messages("C0ESC")
    assert top["text"].startswith(":rotating_light: Escalation level 2: <@U0CTO>")
    card = str(fake_slack.message(approval.channel, approval.ts)["blocks"])
    assert "Escalated to <@U0CTO> (level 2)" in card


def test_a_reminder_for_a_card_not_yet_posted_waits_for_the_card(build, clock, fake_slack):
    s = build(Policy(remind_after=10, expire_after=None))
    fake_slack.fail_next("chat.postMessage", status=503, error="unavailable")
    run = s.parts.start()
    [approval] = s.parts.pending(run)
    assert approval.ts is None  # its post failed for now

    clock.advance(11)
    assert s.scheduler.tick() == 1  # the reminder is not ready: put back, not dropped
    [job] = s.parts.store.jobs_for(approval.id)
    assert job.status == "pending" and job.attempts == 1

    clock.advance(300)  # the card's backoff and the job's have both passed
    s.scheduler.tick()

    posted = s.parts.approval(approval.id)
    assert posted.ts is not None
    [reminder] = fake_slack.replies(posted.channel, posted.ts)
    assert reminder["text"].startswith(":alarm_clock:")
    assert [j.status for j in s.parts.store.jobs_for(approval.id)] == ["done"]


def test_a_batch_that_outlasts_its_lease_runs_each_job_in_one_process_only(
    build, clock, fake_slack
):
    """Two escalations of one request fall due together; the first takes longer than the
    batch's lease (a slow or rate-limited Slack), and another process's tick claims the
    second meanwhile: it escalates once, from that process."""
    levels = (
        Level(after=600, to=("U0ONE",), channel="C0ESC1"),
        Level(after=601, to=("U0TWO",), channel="C0ESC2"),
    )
    s = build(Policy(remind_after=None, expire_after=None, levels=levels))
    s.start()
    scheduler = s.scheduler
    other = Scheduler(
        scheduler.store,
        scheduler.engine,
        scheduler.slack,
        lambda: None,
        scheduler.cards,
        scheduler.journal,
    )
    run = scheduler.run
    ran: list[str] = []

    def slow_first(job):
        run(job)
        ran.append(job.id)
        if len(ran) == 1:
            clock.advance(scheduler.lease + 1)
            assert other.tick() == 1  # the second escalation, its lease run out

    scheduler.run = slow_first  # type: ignore[method-assign]
    clock.advance(700)
    scheduler.tick()
    assert len(fake_slack.messages("C0ESC1")) == 1
    assert len(fake_slack.messages("C0ESC2")) == 1


def test_a_digest_whose_jobs_another_process_took_is_not_posted_again(build, clock, fake_slack):
    s = build(Policy(remind_after=10 * MINUTE, expire_after=None))
    s.start()
    s.start()
    clock.advance(10 * MINUTE + 1)
    jobs = s.parts.store.claim_due_jobs(s.scheduler.lease)
    assert len(jobs) == 2
    clock.advance(s.scheduler.lease + 1)
    assert s.scheduler.tick() == 2  # this one's lease ran out: another tick took them
    posted = len(fake_slack.calls("chat.postMessage"))
    s.scheduler.run_batch(jobs)  # the first taker comes back to them
    assert len(fake_slack.calls("chat.postMessage")) == posted


def _u2_votes_before_u1_s_redraw(s, approval) -> tuple[object, object]:
    """U1's vote is counted and the request read back; before U1's redraw goes out, U2 votes
    (in another thread, to its end). What came of each."""
    engine = s.parts.engine
    second: list[object] = []
    redraw = engine.decider._redraw
    raced: list[bool] = []

    def and_meanwhile(latest):
        if not raced:  # U1's redraw, the first: U2's comes inside it
            raced.append(True)
            racing = threading.Thread(
                target=lambda: second.append(engine.decide(approval.id, Decision("approve", "U2")))
            )
            racing.start()
            racing.join(20)
        redraw(latest)

    engine.decider._redraw = and_meanwhile  # type: ignore[method-assign]
    first = engine.decide(approval.id, Decision("approve", "U1"))
    return first, second[0]


def _live_buttons(fake_slack, approval) -> list:
    card = fake_slack.message(approval.channel, approval.ts)
    return [b for b in card["blocks"] if b.get("type") == "actions"]


def test_a_vote_s_redraw_from_before_another_vote_settled_it_does_not_reopen_the_card(
    build, fake_slack
):
    """2 of 3: U1's vote is counted and the request read back (1 of 2); before its redraw goes
    out, U2's vote settles it and the decided card is drawn. U1's redraw comes last: the card
    still ends decided, without buttons."""
    s = build(
        Policy(remind_after=None, expire_after=None),
        stage=Stage(approvers=("U1", "U2", "U3"), quorum=2),
    )
    run, approval = s.start()
    first, second = _u2_votes_before_u1_s_redraw(s, approval)
    assert isinstance(first, outcomes.VoteRecorded)
    assert isinstance(second, outcomes.Applied)
    assert s.parts.store.get_run(run.thread_id).status == "done"
    assert _live_buttons(fake_slack, approval) == []


def test_an_escalation_s_card_redraw_after_the_request_was_decided_leaves_it_decided(
    build, clock, fake_slack
):
    level = Level(after=600, to=("U0ONCALL",), channel="C0ESC")
    s = build(Policy(remind_after=None, expire_after=None, levels=(level,)))
    run, approval = s.start(requester="U0ASKER")
    reply = s.scheduler.slack.reply

    def escalated_then_decided(channel, thread, text, *args, **kwargs):
        posted = reply(channel, thread, text, *args, **kwargs)
        if channel == "C0ESC":  # the requester approves while the escalation goes out
            decided = s.parts.engine.decide(approval.id, Decision("approve", "U0ASKER"))
            assert isinstance(decided, outcomes.Applied)
        return posted

    s.scheduler.slack.reply = escalated_then_decided  # type: ignore[method-assign]
    clock.advance(601)
    assert s.scheduler.tick() == 1
    assert s.parts.store.get_run(run.thread_id).status == "done"
    assert _live_buttons(fake_slack, approval) == []


def _card_text(fake_slack, approval) -> str:
    return str(fake_slack.message(approval.channel, approval.ts)["blocks"])


def test_an_escalation_s_card_redraw_after_a_stage_advance_shows_the_new_stage(
    build, clock, fake_slack
):
    """Two stages. The escalation reads the request (stage A), posts its message; meanwhile
    U1 signs stage A and the request moves to stage B (its card redrawn so). The escalation's
    own redraw then goes out with the request as it read it: the card must still show stage B."""
    level = Level(after=600, to=("U0ONCALL",), channel="C0ESC")
    s = build(
        Policy(remind_after=None, expire_after=None, levels=(level,)),
        stages=(Stage(name="Team", approvers=("U1",)), Stage(name="Lead", approvers=("U2",))),
    )
    run, approval = s.start(requester="U0ASKER")
    reply = s.scheduler.slack.reply

    def escalated_then_signed(channel, thread, text, *args, **kwargs):
        posted = reply(channel, thread, text, *args, **kwargs)
        if channel == "C0ESC":  # stage A signs while the escalation goes out
            voted = s.parts.engine.decide(approval.id, Decision("approve", "U1"))
            assert isinstance(voted, outcomes.VoteRecorded), voted
        return posted

    s.scheduler.slack.reply = escalated_then_signed  # type: ignore[method-assign]
    clock.advance(601)
    assert s.scheduler.tick() == 1
    now = s.parts.approval(approval.id)
    assert now.pending and now.stage == 1
    card = _card_text(fake_slack, approval)
    assert "Team signed by <@U1>" in card, card
    assert "*Stage 2 of 2: Lead*" in card, card


def test_a_vote_s_redraw_from_before_another_vote_advanced_the_stage_shows_the_new_stage(
    build, fake_slack
):
    """Stage A needs 2 of U1, U2, U3. U1's vote is counted and the request read back (stage A,
    1 of 2); before its redraw goes out, U2's vote completes stage A and the card is drawn at
    stage B. U1's redraw lands last: the card must not go back to stage A."""
    s = build(
        Policy(remind_after=None, expire_after=None),
        stages=(
            Stage(name="Team", approvers=("U1", "U2", "U3"), quorum=2),
            Stage(name="Lead", approvers=("U9",)),
        ),
    )
    run, approval = s.start()
    first, second = _u2_votes_before_u1_s_redraw(s, approval)
    assert isinstance(first, outcomes.VoteRecorded)
    assert isinstance(second, outcomes.VoteRecorded)
    assert s.parts.approval(approval.id).stage == 1
    card = _card_text(fake_slack, approval)
    assert "*Stage 2 of 2: Lead*" in card, card


def _cards_in(fake_slack, channel: str) -> list:
    return [
        m
        for m in fake_slack.messages(channel)
        if any(b.get("type") == "actions" for b in m.get("blocks") or [])
    ]


def test_a_stage_advance_and_a_refresh_job_post_the_next_stage_s_card_once(
    build, clock, fake_slack
):
    """Stage B's cards go to C0LEAD. U1 signs stage A; while the vote's next_stage posts the
    card in C0LEAD (read which cards exist, then post), the scheduler runs a refresh job that
    was due for the request (an earlier card update Slack failed) and spreads it too. C0LEAD
    must get one card, and every card of the request must be one the bot knows and redraws."""
    s = build(
        Policy(remind_after=None, expire_after=None),
        stages=(
            Stage(name="Team", approvers=("U1",)),
            Stage(name="Lead", approvers=("U9",), channel="C0LEAD"),
        ),
    )
    run, approval = s.start(requester="U0ASKER")
    s.parts.store.add_job(approval.id, PlannedJob("refresh", clock()))  # e.g. a failed update
    cards = s.scheduler.cards
    post_card = cards.slack.post_card
    ticked: list[int] = []
    threads: list[threading.Thread] = []

    def post_then(approval_, notes, lines, edit, channel, *rest):
        if channel == "C0LEAD" and not ticked:  # the vote's spread read the posts already
            ticked.append(-1)
            other = threading.Thread(target=lambda: ticked.__setitem__(0, s.scheduler.tick()))
            other.start()  # another worker (or process) ticking now
            other.join(0.5)  # done, or (as it should) held up by the lock this spread holds
            threads.append(other)
        return post_card(approval_, notes, lines, edit, channel, *rest)

    cards.slack.post_card = post_then  # type: ignore[method-assign]
    voted = s.parts.engine.decide(approval.id, Decision("approve", "U1"))
    assert isinstance(voted, outcomes.VoteRecorded), voted
    for t in threads:
        t.join(20)
    assert ticked == [1]
    decided = s.parts.engine.decide(approval.id, Decision("approve", "U9"))
    assert isinstance(decided, outcomes.Applied), decided
    assert s.parts.store.get_run(run.thread_id).status == "done"
    # Every message in C0LEAD that ever showed the request's buttons shows none now.
    live = _cards_in(fake_slack, "C0LEAD")
    assert live == [], [(m["ts"], m["text"]) for m in live]
