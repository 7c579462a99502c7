"""Where a click came from (bot.core.origins), on both real databases: the request's own card,
App Home and our modals count; a copy recorded as one of its cards (a decider's direct messages,
a later stage's channel) counts; any other message does not, and a stale copy of the card in
its channel loses its buttons and points at the current card. A click on a card whose ts we
have not recorded adopts the clicked message, only if it is in the request's channel and
shows this request's buttons."""

from __future__ import annotations

from dataclasses import replace

import pytest

from bot.core import outcomes
from bot.core.origins import Origins, from_its_card
from bot.domain.models import Approval, CardPost, Decision
from tests.support.approvals import draft
from tests.support.held import held_in_thread


@pytest.fixture
def origins(parts) -> Origins:
    return Origins(parts.store, parts.db, parts.publisher, quick_lock=0.05)


@pytest.fixture
def unposted(parts) -> Approval:
    """A request whose card Slack posted but whose ts we never recorded (a crash between)."""
    parts.publisher.post_as = "retry"
    [pending] = parts.pending(parts.start(requester="U0ASKER"))
    assert pending.ts is None
    return pending


def _message(channel: str, ts: str) -> str:
    return f"message:{channel}:{ts}"


# from_its_card: pure ---------------------------------------------------------------------------
def test_its_own_card_app_home_and_our_modals_count_and_nothing_else():
    approval = draft("Hello")  # card at C0REQ / 1700000000.000100
    assert from_its_card(approval, None)  # a modal we opened
    assert from_its_card(approval, "view")  # App Home
    assert from_its_card(approval, _message("C0REQ", "1700000000.000100"))
    assert not from_its_card(approval, _message("C0REQ", "1700000000.000200"))
    assert not from_its_card(approval, _message("C0OTHER", "1700000000.000100"))
    assert not from_its_card(approval, "message:C0REQ:")


def test_no_message_counts_as_its_card_before_its_ts_is_known():
    approval = replace(draft("Hello"), ts=None)
    assert not from_its_card(approval, "message:C0REQ:None")
    assert not from_its_card(approval, "message:C0REQ:")
    assert from_its_card(approval, None) and from_its_card(approval, "view")


# from_a_card: the recorded copies ----------------------------------------------------------------
def test_a_recorded_copy_of_the_card_counts_an_unrecorded_message_does_not(
    parts, approval, origins
):
    parts.store.add_card_post(CardPost(approval.id, "card", "D0BOSS", "2000.000001", "U0BOSS"))
    parts.store.add_card_post(CardPost(approval.id, "notice", "D0ASKER", "2000.000002"))

    assert origins.from_a_card(approval, _message(approval.channel, approval.ts or ""))
    assert origins.from_a_card(approval, _message("D0BOSS", "2000.000001"))
    assert not origins.from_a_card(approval, _message("D0BOSS", "2000.000009"))
    assert not origins.from_a_card(approval, _message("D0ASKER", "2000.000002"))  # a notice
    assert not origins.from_a_card(approval, "message:D0BOSS")  # no ts
    assert not origins.from_a_card(approval, "shortcut:D0BOSS:2000.000001")


def test_a_copy_of_another_request_is_no_door_to_this_one(parts, approval, origins):
    [other] = parts.pending(parts.start(requester="U0ASKER"))
    parts.store.add_card_post(CardPost(other.id, "card", "D0BOSS", "2000.000001", "U0BOSS"))
    assert not origins.from_a_card(approval, _message("D0BOSS", "2000.000001"))
    assert origins.from_a_card(other, _message("D0BOSS", "2000.000001"))


# not_from_card: the refusal, and a stale copy's buttons ----------------------------------------
def test_a_stale_copy_in_its_channel_loses_its_buttons_and_points_at_the_current_card(
    parts, approval, origins
):
    click = Decision("approve", "U0ASKER", origin=_message(approval.channel, "999.1"))
    shown = replace(click, shows_request=True)

    outcome = origins.not_from_card(approval, shown)

    link = parts.publisher.card_link(approval)
    assert outcome == outcomes.NotFromCard(approval, link)
    assert parts.publisher.named("retire_copy") == [(approval.id, "999.1", link)]


def test_a_message_that_does_not_show_the_request_or_lies_elsewhere_is_left_alone(
    parts, approval, origins
):
    unshown = Decision("approve", "U0ASKER", origin=_message(approval.channel, "999.1"))
    elsewhere = Decision(
        "approve", "U0ASKER", origin=_message("C0ELSEWHERE", "999.1"), shows_request=True
    )
    for decision in (unshown, elsewhere):
        outcome = origins.not_from_card(approval, decision)
        assert isinstance(outcome, outcomes.NotFromCard) and outcome.card_link is not None
    assert parts.publisher.named("retire_copy") == []


def test_without_a_card_there_is_no_link_and_no_copy_to_retire(parts, unposted, origins):
    click = Decision(
        "approve", "U0ASKER", origin=_message(unposted.channel, "999.1"), shows_request=True
    )
    outcome = origins.not_from_card(unposted, click)
    assert outcome == outcomes.NotFromCard(unposted, None)
    assert parts.publisher.named("retire_copy") == []


def test_a_copy_slack_will_not_retire_still_gets_its_refusal(parts, approval, origins):
    def refuse(*args: object) -> None:
        raise RuntimeError("message_not_found")

    parts.publisher.retire_copy = refuse  # type: ignore[method-assign]
    click = Decision(
        "approve", "U0ASKER", origin=_message(approval.channel, "999.1"), shows_request=True
    )
    assert isinstance(origins.not_from_card(approval, click), outcomes.NotFromCard)


# with_card: adopting the clicked message -------------------------------------------------------
def test_a_request_with_its_card_recorded_is_taken_as_it_is(parts, approval, origins):
    clicked = _message(approval.channel, "999.1")
    assert origins.with_card(approval, clicked, shows=True) is approval
    assert parts.approval(approval.id).ts == approval.ts


def test_a_click_on_its_unrecorded_card_adopts_that_message(parts, unposted, origins):
    clicked = _message(unposted.channel, "1234.5678")

    adopted = origins.with_card(unposted, clicked, shows=True)

    assert adopted.ts == "1234.5678"
    assert parts.approval(unposted.id).ts == "1234.5678"
    assert origins.from_a_card(adopted, clicked)


@pytest.mark.parametrize(
    ("origin", "shows"),
    [
        ("message:{channel}:1234.5678", False),  # a message without this request's buttons
        ("message:C0ELSEWHERE:1234.5678", True),  # not in the request's channel
        ("view", True),  # App Home: no message to adopt
        (None, True),  # a modal we opened
    ],
)
def test_only_a_message_in_its_channel_that_shows_its_buttons_is_adopted(
    parts, unposted, origins, origin, shows
):
    given = origin.format(channel=unposted.channel) if origin else None
    taken = origins.with_card(unposted, given, shows=shows)
    assert taken.ts is None
    assert parts.approval(unposted.id).ts is None


def test_a_card_recorded_meanwhile_wins_over_the_clicked_message(parts, unposted, origins):
    parts.store.set_card(unposted.id, unposted.channel, "1000.000777")  # the post, recorded

    taken = origins.with_card(unposted, _message(unposted.channel, "1234.5678"), shows=True)

    assert taken.ts == "1000.000777"
    assert parts.approval(unposted.id).ts == "1000.000777"


def test_a_quick_check_on_a_busy_run_takes_the_request_as_it_is(parts, unposted, origins):
    clicked = _message(unposted.channel, "1234.5678")
    release, holder = held_in_thread(lambda: parts.db.key_lock(unposted.thread_id))
    try:
        quick = origins.with_card(unposted, clicked, shows=True, quick=True)
        assert quick.ts is None  # not adopted: the click's own processing looks again
    finally:
        release.set()
        holder.join(5)
    assert origins.with_card(unposted, clicked, shows=True).ts == "1234.5678"
