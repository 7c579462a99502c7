"""The engine's Slack ports (bot.slack.publisher.SlackPublisher), on both databases with the
real slack_sdk client against the fake Slack server: what each Publisher call posts and where,
and what a clicker is told of each typed outcome (an ephemeral, or nothing)."""

from __future__ import annotations

from bot.core import outcomes
from bot.core.deciders import Refusal, Why
from bot.core.ports import StageCall
from bot.domain.models import Decision
from bot.domain.signoff import Stage
from bot.slack.blocks import outcomes as words
from bot.slack.blocks.notices import RETRY


def _posted(parts, run=None):
    run = run or parts.run()
    approval = parts.request(run)
    assert parts.publisher.post(approval) == "posted"
    return run, parts.approval(approval.id)


def test_post_says_how_it_went_posted(parts, fake_slack):
    run, approval = _posted(parts)
    assert approval.ts == fake_slack.calls("chat.postMessage")[0].response["ts"]
    assert parts.publisher.ensure(approval) is None  # it has its card: nothing to do


def test_post_that_fails_for_now_is_retry_and_counted(parts, fake_slack, clock):
    approval = parts.request(parts.run())
    fake_slack.fail_next("chat.postMessage", status=503, error="unavailable")

    assert parts.publisher.post(approval) == "retry"

    stored = parts.approval(approval.id)
    assert stored.pending and stored.ts is None and stored.card_attempts == 1
    assert len(fake_slack.calls("chat.postMessage")) == 1  # not retried by slack_sdk


def test_post_slack_will_always_refuse_closes_the_request_and_tells_the_requester(
    parts, fake_slack
):
    run = parts.run(requester="U0ASKER")
    approval = parts.request(run)
    fake_slack.set_channel("C0CARDS", member=False)

    assert parts.publisher.post(approval) == "refused"

    assert parts.approval(approval.id).status == "failed"
    assert parts.store.get_run(run.thread_id).status == "failed"
    [dm] = [c for c in fake_slack.calls("chat.postMessage") if c.params["channel"] == "U0ASKER"]
    assert "I'm not a member of" in dm.params["text"] and "<#C0CARDS>" in dm.params["text"]


def test_due_window_is_the_card_posts_limits(parts):
    assert parts.publisher.due_window() == (
        parts.card_posts.limit,
        parts.card_posts.per_channel,
    )


def test_a_failed_run_is_told_in_its_thread_with_a_retry_button(parts, fake_slack):
    run, approval = _posted(parts)

    parts.publisher.run_failed(run, "ValueError: <bad> input", decided=True, attempts=5)

    [reply] = fake_slack.replies("C0CARDS", approval.ts)
    assert reply["text"].startswith(f"<@U0ASKER> :warning: run `{run.thread_id[:8]}`")
    assert "&lt;bad&gt;" in reply["text"] and "<bad>" not in reply["text"]
    assert "applying it failed 5 times" in reply["text"]
    parts.publisher.run_failed(run, "KeyError: 'id'", decided=True, attempts=1)
    assert (
        "not tried again by itself: the step may have acted before it failed"
        in fake_slack.replies("C0CARDS", approval.ts)[-1]["text"]
    )
    [button] = [e for b in reply["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert (button["action_id"], button["value"]) == (RETRY, run.thread_id)


def test_a_run_that_failed_before_any_decision_says_nothing_was_done(parts, fake_slack):
    run = parts.run()
    parts.publisher.run_failed(run, "boom", decided=False, attempts=5)
    [message] = fake_slack.messages("C0ASK")
    assert "Nothing was decided or done after the error" in message["text"]


def test_server_away_is_said_in_the_runs_thread(parts, fake_slack):
    run, approval = _posted(parts)
    parts.publisher.server_away(run, "the agent server did not answer", decided=True)
    [reply] = fake_slack.replies("C0CARDS", approval.ts)
    assert "The decision is recorded" in reply["text"]


def test_the_next_stages_people_are_called_under_the_card(parts, fake_slack):
    _, approval = _posted(parts)
    call = StageCall("Stage 2 of 2: CFO", Stage("CFO", approvers=("U0CFO",)), "U0ASKER")

    parts.publisher.next_stage(approval, call, None)
    parts.publisher.next_stage(approval, call, "U0EDITOR")

    first, second = fake_slack.replies("C0CARDS", approval.ts)
    assert first["text"].startswith("Stage 2 of 2: CFO is for <@U0CFO>")
    assert first["text"].endswith("Please decide on the card above.")
    assert second["text"].startswith("<@U0EDITOR> edited this request, so it goes back a stage.")


def test_no_stage_call_for_a_card_not_posted(parts, fake_slack):
    approval = parts.request(parts.run())
    call = StageCall("Stage 2 of 2", Stage(approvers=("U0CFO",)), "U0ASKER")
    parts.publisher.next_stage(approval, call, None)
    assert fake_slack.calls("chat.postMessage") == []


def test_a_cancelled_run_is_said_in_its_thread(parts, fake_slack):
    run, approval = _posted(parts)
    parts.publisher.cancelled(run, "U0ASKER")
    [reply] = fake_slack.replies("C0CARDS", approval.ts)
    assert reply["text"] == (
        f"Run `{run.thread_id[:8]}` was cancelled by <@U0ASKER>. Nothing more will run."
    )


def test_a_card_link_is_its_permalink(parts):
    _, approval = _posted(parts)
    link = parts.publisher.card_link(approval)
    assert link is not None and approval.ts.replace(".", "") in link
    assert parts.publisher.card_link(parts.request(parts.run("thread-2"), "i2")) is None


def test_a_stale_copy_is_retired(parts, fake_slack):
    _, approval = _posted(parts)
    parts.publisher.retire_copy(approval, approval.ts, None)
    [update] = fake_slack.calls("chat.update")
    assert update.params["ts"] == approval.ts
    assert "out of date" in update.params["text"]


def test_the_clicker_hears_each_outcome_where_they_clicked(parts, fake_slack):
    """Where the click came from (a card's copy in a decider's DMs has only them in it); the
    request's channel when the click names none."""
    _, approval = _posted(parts)
    refusal = Refusal(Why.NOT_REQUESTER, Stage(), "U0ASKER")

    parts.publisher.answer(outcomes.Refused(approval, refusal), "C0ELSEWHERE", "U0BOB")
    parts.publisher.answer(outcomes.NotFound(), "C0ELSEWHERE", "U0BOB")
    parts.publisher.answer(outcomes.Refused(approval, refusal), None, "U0CAROL")

    refused, gone = fake_slack.ephemerals("C0ELSEWHERE")
    assert refused["user"] == "U0BOB"
    assert refused["text"] == words.sentence(outcomes.Refused(approval, refusal))
    assert "U0ASKER" in refused["text"]
    assert gone["text"] == words.NOT_FOUND
    [no_channel] = fake_slack.ephemerals("C0CARDS")
    assert no_channel["user"] == "U0CAROL"


def test_a_decision_that_won_or_replayed_is_not_answered(parts, fake_slack):
    _, approval = _posted(parts)
    won = parts.store.claim(approval.id, Decision("approve", "U0ASKER"))
    parts.publisher.answer(outcomes.Applied(won), "C0CARDS", "U0ASKER")
    parts.publisher.answer(outcomes.Replayed(won), "C0CARDS", "U0ASKER")
    assert fake_slack.calls("chat.postEphemeral") == []


def test_a_click_on_another_message_is_answered_where_it_was_clicked_with_the_cards_link(
    parts, fake_slack
):
    _, approval = _posted(parts)
    link = parts.publisher.card_link(approval)

    parts.publisher.answer(outcomes.NotFromCard(approval, link), "C0ELSEWHERE", "U0BOB")

    [told] = fake_slack.ephemerals("C0ELSEWHERE")
    assert told["user"] == "U0BOB"
    assert told["text"] == f"{words.NOT_FROM_CARD} Use <{link}|the current card>."
    assert fake_slack.ephemerals("C0CARDS") == []
