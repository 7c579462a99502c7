"""Text of the ``/agent`` subcommands (bot.slack.blocks.runs): pure, records in, mrkdwn out.
Untrusted text (the request, results, audit details) stays text; lists are cut with a count
of what was left out."""

from __future__ import annotations

from bot.domain.models import Approval, Decision, Run
from bot.slack.blocks import runs
from bot.store.audit_log import Event
from tests.support.units import review

NOW = 1_800_000_000.0


def _run(**changes) -> Run:
    fields = dict(
        thread_id="abcdef0123456789",
        graph="draft",
        request="Tell <!channel> about *Q3*",
        requester="U0ASKER",
        channel="C0ASK",
        approvals_channel="C0CARDS",
        status="waiting",
        result=None,
        created_at=NOW,
        updated_at=NOW,
    )
    return Run(**{**fields, **changes})


def _approval(**changes) -> Approval:
    fields = dict(
        id="a1",
        thread_id="abcdef0123456789",
        interrupt_id="i1",
        graph="draft",
        request="Tell <!channel> about Q3",
        requester="U0ASKER",
        payload={"value": {}},
        channel="C0CARDS",
        ts="1700000000.000100",
        status="pending",
        created_at=NOW,
        review=review(),
    )
    return Approval(**{**fields, **changes})


def test_a_link_goes_to_the_card_or_says_it_is_not_posted():
    assert runs.link(_approval()) == ("<https://slack.com/archives/C0CARDS/p1700000000000100|card>")
    assert runs.link(_approval(ts=None)) == "(card not posted yet)"


def test_help_lists_every_subcommand():
    text = runs.subcommands()
    for name in runs.SUBCOMMANDS:
        assert f"`/agent {name}`" in text


def test_nothing_pending():
    assert runs.pending_text([], NOW) == "Nothing is waiting for your decision."


def test_pending_requests_are_listed_escaped_and_cut_with_a_count():
    many = [_approval(id=f"a{n}") for n in range(runs.MAX_LISTED + 3)]
    text = runs.pending_text(many, NOW)
    lines = text.splitlines()
    assert lines[0] == f"*{len(many)} waiting for your decision*, oldest first:"
    assert len(lines) == 1 + runs.MAX_LISTED + 1
    assert lines[-1] == "…and 3 more."
    assert "<!channel>" not in text and "&lt;!channel&gt;" in text
    assert "run `abcdef01`" in lines[1] and "<@U0ASKER>" in lines[1]


def test_status_shows_who_it_waits_for_and_what_was_decided():
    decided = _approval(
        id="a0",
        status="approved",
        decided_by="U0BOSS",
        decided_at=NOW + 60,
        decision=Decision("approve", "U0BOSS"),
    )
    waiting = _approval(id="a1")
    text = runs.status_text(_run(), [decided, waiting], {"a1": "<@U0BOSS>"}, [])
    lines = text.splitlines()
    assert lines[0].startswith("*Run `abcdef01`* (draft), started by <@U0ASKER> ")
    assert lines[0].endswith(": *waiting*")
    assert lines[1].startswith("> ") and "<!channel>" not in lines[1]
    assert "U0BOSS" in lines[2] and lines[2].endswith("|card>")
    assert lines[3].startswith("⏳ Waiting for <@U0BOSS> on the ")
    assert "*Timeline*" not in text


def test_a_finished_runs_result_is_shown_escaped():
    text = runs.status_text(_run(status="done", result="Posted <@U0ALL> & more"), [], {}, [])
    assert "Result: Posted &lt;@U0ALL&gt; &amp; more" in text


def test_the_timeline_names_who_and_how_and_cuts_old_events():
    events = [
        Event(NOW + n, "abcdef0123456789", "voted", "U0BOSS", "a1", {"vote": "approve"})
        for n in range(5)
    ]
    events.append(
        Event(NOW + 9, "abcdef0123456789", "decided", "U0BOSS", "a1",
              {"via": "api", "on_behalf_of": "ci-bot", "reason": "<!here> ok"})
    )  # fmt: skip
    lines = runs.timeline(events, limit=3)
    assert lines[0] == "…3 earlier events not shown"
    assert len(lines) == 4
    assert "*voted* by <@U0BOSS> (vote: approve)" in lines[1]
    assert "*decided* by <@U0BOSS> via the API (token `ci-bot`, on their behalf)" in lines[3]
    assert "<!here>" not in lines[3]


def test_the_bot_and_the_scheduler_are_named_not_mentioned():
    events = [Event(NOW, "t", "expired", "scheduler"), Event(NOW, "t", "requested", "bot")]
    lines = runs.timeline(events)
    assert "by scheduler" in lines[0] and "by bot" in lines[1]


def test_the_audit_trail():
    run = _run()
    assert runs.audit_text(run, []) == "*Audit trail of run `abcdef01`* (0 events): nothing yet."
    text = runs.audit_text(run, [Event(NOW, run.thread_id, "started", "U0ASKER")])
    assert text.splitlines()[0] == "*Audit trail of run `abcdef01`* (1 events)"
    assert "*started* by <@U0ASKER>" in text
