"""Cards as Slack shows them (bot.slack.card_publisher.Cards), on both databases with the real
slack_sdk client against the fake Slack server: a posted card's ts is recorded, a redraw shows
its deadlines or its decision, a redraw Slack refuses leaves a job to try again, and what is
said in a run's thread goes under its card (or to the requester when it has none)."""

from __future__ import annotations

import pytest

from bot.domain.models import Decision
from bot.domain.timeline import PlannedJob
from bot.slack.client import MESSAGE_LIMIT
from graphs.outcomes import OutcomeUnknown
from tests.support.mrkdwn import unescape


def _buttons(message) -> list[str]:
    return [
        e.get("action_id")
        for b in message.get("blocks", [])
        if b.get("type") == "actions"
        for e in b.get("elements", [])
    ]


def test_a_posted_card_is_recorded_with_its_ts(parts, fake_slack):
    approval = parts.request(parts.run())

    parts.cards.post(approval)

    [call] = fake_slack.calls("chat.postMessage")
    stored = parts.approval(approval.id)
    assert (stored.channel, stored.ts) == ("C0CARDS", call.response["ts"])
    assert _buttons(fake_slack.message("C0CARDS", stored.ts))


def test_a_pending_card_shows_its_deadline(parts, fake_slack, clock):
    expiry = PlannedJob("expire", clock() + 3600, detail={"as": "reject", "after": 3600})
    approval = parts.request(parts.run(), jobs=(expiry,))

    parts.cards.post(approval)

    blocks = str(fake_slack.calls("chat.postMessage")[0].params["blocks"])
    assert "Expires" in blocks and "(rejected if nobody decides)" in blocks


def test_untrusted_text_on_the_card_stays_text(parts, fake_slack):
    approval = parts.request(parts.run())  # its payload says "Hello <!here> team"
    parts.cards.post(approval)
    blocks = str(fake_slack.calls("chat.postMessage")[0].params["blocks"])
    assert "<!here>" not in blocks


def test_a_decided_card_is_redrawn_with_the_decision_and_no_buttons(parts, fake_slack):
    approval = parts.request(parts.run())
    parts.cards.post(approval)
    decided = parts.store.claim(approval.id, Decision("reject", "U0BOSS", reason="too long"))

    parts.cards.refresh(decided)

    [update] = fake_slack.calls("chat.update")
    assert update.params["ts"] == decided.ts
    message = fake_slack.message("C0CARDS", decided.ts)
    assert _buttons(message) == []
    assert "U0BOSS" in str(message["blocks"])
    assert parts.store.jobs_for(approval.id) == []


def test_a_redraw_slack_refuses_leaves_a_refresh_job_due_now(parts, fake_slack, clock):
    approval = parts.request(parts.run())
    parts.cards.post(approval)
    posted = parts.approval(approval.id)
    fake_slack.fail_next("chat.update", status=200, error="internal_error", retry_after=None)

    parts.cards.refresh(posted)  # does not raise

    [job] = parts.store.jobs_for(approval.id)
    assert (job.kind, job.due_at, job.status) == ("refresh", clock(), "pending")


def test_the_report_goes_in_the_cards_thread_escaped(parts, fake_slack):
    run = parts.run()
    approval = parts.request(run)
    parts.cards.post(approval)
    card_ts = parts.approval(approval.id).ts

    parts.cards.report(run, "Sent <!channel> & done")

    [reply] = fake_slack.replies("C0CARDS", card_ts)
    assert reply["text"] == "Sent &lt;!channel&gt; &amp; done"


def test_a_run_without_a_card_reports_to_its_requester_where_it_was_asked(parts, fake_slack):
    run = parts.run(requester="U0ASKER")

    parts.cards.report(run, "Finished")

    [message] = fake_slack.messages("C0ASK")
    assert message["text"] == "<@U0ASKER> Finished"


def test_say_puts_our_own_text_and_blocks_in_the_runs_thread(parts, fake_slack):
    run = parts.run()
    approval = parts.request(run)
    parts.cards.post(approval)
    card_ts = parts.approval(approval.id).ts
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*bold*"}}]

    parts.cards.say(run, "*bold*", blocks)

    [reply] = fake_slack.replies("C0CARDS", card_ts)
    assert reply["text"] == "*bold*" and reply["blocks"] == blocks


def test_an_edit_note_is_posted_once_in_the_thread(parts, fake_slack):
    run = parts.run()
    approval = parts.request(run)
    parts.cards.post(approval)
    edited = parts.store.claim(approval.id, Decision("edit", "U0BOSS", parameters={"to": "all"}))

    parts.cards.note_edit(run, edited)
    parts.cards.note_edit(run, edited)  # applied again after a crash: not said twice

    [reply] = fake_slack.replies("C0CARDS", edited.ts)
    assert reply["text"].startswith("✏️ <@U0BOSS> edited it before approving:")
    assert "*to*: (none) → all" in reply["text"]


def test_no_edit_note_for_an_approval(parts, fake_slack):
    run = parts.run()
    approval = parts.request(run)
    parts.cards.post(approval)
    approved = parts.store.claim(approval.id, Decision("approve", "U0BOSS"))
    parts.cards.note_edit(run, approved)
    assert fake_slack.replies("C0CARDS", approved.ts) == []


def test_with_tracing_on_a_pending_card_links_the_trace_of_the_step_that_asked(parts, fake_slack):
    import uuid

    from bot.agents.traces import Project, TraceLinks

    parts.cards.links = TraceLinks(lambda: Project("https://smith.test", "ten", "proj"))
    run = parts.run()
    trace = uuid.uuid4().hex
    parts.store.set_trace(run.thread_id, trace)
    approval = parts.request(run)

    parts.cards.post(approval)

    blocks = str(fake_slack.calls("chat.postMessage")[0].params["blocks"])
    url = f"https://smith.test/o/ten/projects/p/proj/r/{uuid.UUID(trace)}?poll=true"
    assert f"<{url}|View the trace>" in blocks


def test_with_tracing_off_no_trace_is_linked(parts, fake_slack):
    run = parts.run()
    parts.store.set_trace(run.thread_id, "0" * 32)
    parts.cards.post(parts.request(run))
    assert "View the trace" not in str(fake_slack.calls("chat.postMessage")[0].params["blocks"])


def test_a_long_report_is_posted_in_full_in_several_replies(parts, fake_slack):
    """A graph's report (an agent's last answer, say) longer than a message holds: all of it,
    in as many replies in the card's thread as it takes, nothing cut."""
    run = parts.run()
    parts.cards.post(parts.request(run))
    answer = "Here is the summary.\n" + "A line of the summary <& more>.\n" * 300 + "THE END"

    parts.cards.report(run, answer)

    replies = fake_slack.calls("chat.postMessage")[1:]
    assert len(replies) > 1  # escaped, it is over 12,000 characters
    card_ts = fake_slack.calls("chat.postMessage")[0].response["ts"]
    assert all(r.params["thread_ts"] == card_ts for r in replies)
    assert all(len(r.params["text"]) <= MESSAGE_LIMIT for r in replies)
    assert unescape("".join(r.params["text"] for r in replies)) == answer


def test_a_long_report_cut_off_by_a_failure_after_its_first_part_is_not_posted_again(
    parts, fake_slack, monkeypatch
):
    """Posting it again would repeat the parts already in the thread: of unknown outcome."""
    run = parts.run()
    parts.cards.post(parts.request(run))
    post = parts.slack.client.chat_postMessage

    def second_fails(**kwargs):
        if fake_slack.calls("chat.postMessage")[1:]:  # a part is in the thread already
            fake_slack.fail_next("chat.postMessage", status=400, error="fatal_error")
        return post(**kwargs)

    monkeypatch.setattr(parts.slack.client, "chat_postMessage", second_fails)
    with pytest.raises(OutcomeUnknown, match="posted 1 of 2 parts"):
        parts.cards.report(run, "x" * (MESSAGE_LIMIT + 10))
    assert len([c for c in fake_slack.calls("chat.postMessage") if c.ok]) == 2  # card, part 1
