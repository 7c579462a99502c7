"""How a decided request reads (bot.slack.blocks.decided): the outcome line of each status (what,
who, when), the people who signed, remembered approvals, a batch decided call by call, and the
untrusted words in it (a reason, a reply) kept as text and within their limits."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.domain.models import Approval, Decision
from bot.domain.review import Choice
from bot.slack.blocks.decided import item_lines, outcome_line, people, when
from bot.slack.blocks.proposals import MAX_PROPOSALS
from tests.support.approvals import BOSS, draft
from tests.support.mrkdwn import live_tokens

AT = 1_700_000_600.0  # 2023-11-14 22:23 UTC
WHEN = "<!date^1700000600^{date_short_pretty} at {time}|2023-11-14 22:23 UTC>"


def settled(status: str, decision: Decision | None = None, **fields: object) -> Approval:
    decision = decision or Decision("approve", BOSS)
    approval = replace(draft("Hello"), status=status, decided_by=BOSS, decided_at=AT)
    return replace(approval, decision=decision, **fields)  # type: ignore[arg-type]


def test_when_is_a_slack_date_token_with_a_utc_fallback():
    assert when(AT) == WHEN
    assert when(0) == "<!date^0^{date_short_pretty} at {time}|1970-01-01 00:00 UTC>"


@pytest.mark.parametrize(
    ("users", "said"),
    [
        (["U1"], "<@U1>"),
        (["U1", "U2"], "<@U1> and <@U2>"),
        (["U1", "U2", "U3"], "<@U1>, <@U2> and <@U3>"),
        ([], ""),
    ],
)
def test_people_are_listed_as_a_sentence_lists_them(users, said):
    assert people(users) == said


@pytest.mark.parametrize(
    ("status", "decision", "line"),
    [
        ("approved", Decision("approve", BOSS), f"✅ *Approved* by <@{BOSS}> at {WHEN}"),
        ("edited", Decision("edit", BOSS), f"✏️ *Edited and approved* by <@{BOSS}> at {WHEN}"),
        ("rejected", Decision("reject", BOSS), f"❌ *Rejected* by <@{BOSS}> at {WHEN}"),
        (
            "rejected",
            Decision("reject", BOSS, reason="too early"),
            f"❌ *Rejected* by <@{BOSS}> at {WHEN}: too early",
        ),
        ("expired", Decision("expire", "scheduler"), f"⌛ *expired* ({WHEN})"),
        (
            "expired",
            Decision("expire", "scheduler", reason="Expired after 2d"),
            f"⌛ *Expired after 2d* ({WHEN})",
        ),
        (
            "responded",
            Decision("respond", BOSS, message="use the other list"),
            f"💬 *Answered* by <@{BOSS}> at {WHEN}: use the other list",
        ),
        ("ignored", Decision("ignore", BOSS), f"🙈 *Ignored* by <@{BOSS}> at {WHEN}"),
        ("answered", Decision("answer", BOSS), f"📝 *Answered* by <@{BOSS}> at {WHEN}"),
        (
            "cancelled",
            Decision("cancel", BOSS),
            f"🚫 *Cancelled* by <@{BOSS}> at {WHEN}: the run was cancelled, nothing more runs",
        ),
        ("decided", Decision("changes", BOSS), f"☑️ *Decided* by <@{BOSS}> at {WHEN}"),
    ],
)
def test_each_outcome_says_what_who_and_when(status, decision, line):
    assert outcome_line(settled(status, decision)) == line


def test_a_card_slack_refused_says_so_and_names_nobody():
    line = outcome_line(replace(draft("x"), status="failed"))
    assert line.startswith("⚠️ *Not posted*") and "<@" not in line


def test_a_pending_request_is_waiting():
    assert outcome_line(draft("x")) == "⏳ Waiting for a decision"


def test_everyone_who_signed_is_named_not_only_the_last():
    signed = Decision("approve", "U0B", approvers=["U0A", "U0B"])
    assert outcome_line(settled("approved", signed)).startswith(
        "✅ *Approved* by <@U0A> and <@U0B>"
    )
    # a rejection is one person's: the one who rejected
    refused = Decision("reject", BOSS, approvers=["U0A", "U0B"])
    assert f"by <@{BOSS}>" in outcome_line(settled("rejected", refused))


def test_a_remembered_approval_names_its_rule_and_who_made_it():
    made = Decision("approve", BOSS, remember=3600, rule=7)
    assert outcome_line(settled("approved", made)) == (
        f"✅ *Approved* by <@{BOSS}> at {WHEN}, and remembered as rule #7"
    )
    applied = Decision("approve", BOSS, rule=7, via="rule")
    assert outcome_line(settled("approved", applied)) == (
        f"✅ *Approved* by rule #7 (made by <@{BOSS}>) at {WHEN}"
    )


def test_a_settings_choice_reads_as_its_button_and_its_notes():
    approval = settled("decided", Decision("changes", BOSS, message="shorter, please"))
    review = approval.review
    assert review is not None
    approval = replace(
        approval, review=replace(review, extra=(Choice("changes", "Request changes"),))
    )
    assert outcome_line(approval) == (
        f"☑️ *Request changes* by <@{BOSS}> at {WHEN}: shorter, please"
    )


def test_untrusted_words_stay_text_and_are_cut():
    hostile = "<!here> <@U0EVIL> @channel <https://evil.example|click> " + "x" * 5_000
    for status, decision in [
        ("rejected", Decision("reject", BOSS, reason=hostile)),
        ("responded", Decision("respond", BOSS, message=hostile)),
        ("decided", Decision("changes", BOSS, message=hostile)),
        ("expired", Decision("expire", "scheduler", reason=hostile)),
    ]:
        line = outcome_line(settled(status, decision))
        assert live_tokens(line, trusted_users=(BOSS,)) == [], status
        assert len(line) < 1_300, status


# a batch decided call by call -------------------------------------------------------------------
def test_a_batch_reads_call_by_call_with_its_messages():
    items = [
        {"type": "approve"},
        {"type": "reject", "message": "not this one"},
        {"type": "edit"},
        {"type": "respond", "message": "use v2"},
        {"type": "ignore"},
        {"type": "custom"},
    ]
    assert item_lines(Decision("approve", BOSS, items=items)) == (
        "1. approved  2. rejected: not this one  3. edited  4. answered: use v2  5. ignored"
        "  6. custom"
    )


def test_a_batchs_messages_stay_text():
    items = [{"type": "reject", "message": "<!channel> see <@U0EVIL>"}]
    assert live_tokens(item_lines(Decision("reject", BOSS, items=items))) == []


def test_a_batch_longer_than_the_card_shows_says_how_many_more_were_decided():
    """The card lists at most ten calls' decisions; the rest are not dropped without a word."""
    count = MAX_PROPOSALS + 5
    items = [{"type": "approve"}] * (count - 1) + [{"type": "reject", "message": "the last"}]

    lines = item_lines(Decision("decide", BOSS, items=items))

    assert "10. approved" in lines and "11. approved" not in lines
    assert lines.endswith("  …and 5 more: 4 approved, 1 rejected")


def test_a_batch_of_long_messages_is_cut_to_fit_its_context_block():
    items = [{"type": "reject", "message": "m" * 1_000}] * MAX_PROPOSALS
    assert len(item_lines(Decision("reject", BOSS, items=items))) <= 1_900
