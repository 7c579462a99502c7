"""Card buttons, called as Bolt would call them, with a fake ack and Slack client."""

from __future__ import annotations

import json

import pytest

from bot.domain.models import Decision
from bot.domain.review import Choice, FormField, Proposal, Review
from bot.slack.blocks import modals, outcomes
from bot.slack.listeners import actions
from bot.slack.listeners.binding import Bound, unseal
from tests.listeners.doubles import (
    APPROVAL_ID,
    APPROVER,
    CARD_CHANNEL,
    REFUSED,
    REQUESTER,
    RUN_ID,
    STRANGER,
    approval,
    batch_review,
    click,
    draft_review,
    with_choices,
    world,
)
from tests.support.cards import blocks_text

FORM_OPENERS = [
    (actions.open_edit_form, modals.EDIT),
    (actions.open_answer_form, modals.ANSWER),
    (actions.open_respond_form, modals.RESPOND),
    (actions.open_reject_form, modals.REJECT),
]
MALFORMED = [
    ({"actions": "x", "user": {"id": APPROVER}}, "couldn't read that click"),
    (click(value="not-a-request"), "doesn't belong to any request"),
    (click(value="0123456789ABCDEF"), "doesn't belong to any request"),
    (click(user=None) | {"user": {"id": 42}}, None),  # nobody to tell
]


# "Approve, and don't ask again for …" --------------------------------------------------------


def picked(value: str) -> dict:
    body = click()
    body["actions"] = [
        {"action_id": "approval.remember", "selected_option": {"value": value}, "type": "x"}
    ]
    return body


def test_a_remembered_approval_is_an_approve_recorded_before_it_is_acked():
    w = world()
    actions.remember(w.ack, picked(f"{APPROVAL_ID}:2:3600"), deps=w.deps)
    assert w.log.names() == ["receive", "ack"]
    expected = Decision(
        "approve", APPROVER, origin="message:CCLICKED:1.2", version=2, remember=3600
    )
    assert w.engine.received == [(APPROVAL_ID, expected, "CCLICKED")]


@pytest.mark.parametrize(
    "value", [f"{APPROVAL_ID}:1", f"{APPROVAL_ID}:1:0", f"{APPROVAL_ID}:0:60", "x:1:60"]
)
def test_a_menu_value_that_is_no_duration_of_a_request_changes_nothing(value):
    w = world()
    actions.remember(w.ack, picked(value), deps=w.deps)
    assert w.engine.received == []
    assert w.ack.calls == [{}]
    assert w.client.told


# Approve and Ignore --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("listener", "kind"), [(actions.approve, "approve"), (actions.ignore, "ignore")]
)
def test_a_deciding_click_is_recorded_before_it_is_acked(listener, kind):
    w = world()
    body = click(value=f"{APPROVAL_ID}:3")
    body["message"] = {"blocks": [{"block_id": f"decide:{APPROVAL_ID}"}]}
    listener(w.ack, body, deps=w.deps)
    assert w.log.names() == ["receive", "ack"]
    assert w.ack.calls == [{}]
    expected = Decision(
        kind, APPROVER, origin="message:CCLICKED:1.2", shows_request=True, version=3
    )
    assert w.engine.received == [(APPROVAL_ID, expected, "CCLICKED")]
    assert w.client.told == []


def test_a_click_the_database_cannot_take_is_acked_then_explained():
    w = world()
    w.engine.down = True
    actions.approve(w.ack, click(), deps=w.deps)
    assert w.log.names() == ["receive", "ack", "tell"]
    assert w.client.told == [("CCLICKED", APPROVER, actions.NOT_RECORDED)]


def test_a_click_whose_write_may_have_landed_is_never_called_unrecorded():
    w = world()
    w.engine.unknown = True
    actions.approve(w.ack, click(), deps=w.deps)
    assert w.log.names() == ["receive", "ack", "tell"]
    assert w.client.told == [("CCLICKED", APPROVER, actions.UNCONFIRMED)]


@pytest.mark.parametrize(("body", "says"), MALFORMED)
def test_a_malformed_click_is_acked_then_refused_and_nothing_is_recorded(body, says):
    w = world()
    actions.approve(w.ack, body, deps=w.deps)
    assert w.log.names()[0] == "ack"
    assert w.engine.received == []
    if says is None:
        assert w.client.told == []
    else:
        ((channel, user, text),) = w.client.told
        assert (channel, user) == (body.get("channel", {}).get("id", APPROVER), APPROVER)
        assert says in text


# Buttons that open a form ---------------------------------------------------------------------


@pytest.mark.parametrize(("listener", "callback_id"), FORM_OPENERS)
def test_an_approver_gets_the_form_bound_to_the_request_and_to_them(listener, callback_id):
    w = world()
    w.add(approval(version=2))
    listener(w.ack, click(value=f"{APPROVAL_ID}:2"), deps=w.deps)
    assert w.log.names() == ["ack", "precheck", "open_view"]
    assert w.ack.calls == [{}]
    ((trigger, view),) = [c.args for c in w.log.of("open_view")]
    assert trigger == "trigger-1"
    assert view["callback_id"] == callback_id
    bound = unseal(w.deps.modal_key, view["private_metadata"], APPROVER)
    assert bound == Bound(APPROVAL_ID, 2, "")
    assert unseal(w.deps.modal_key, view["private_metadata"], STRANGER) is None


def test_the_batch_form_opens_for_a_batch():
    w = world()
    w.add(approval(review=batch_review()))
    actions.open_each_form(w.ack, click(), deps=w.deps)
    assert [v["callback_id"] for v in w.client.views] == [modals.EACH]


@pytest.mark.parametrize(("listener", "_"), FORM_OPENERS)
def test_a_non_approver_is_told_why_not_and_gets_no_form(listener, _):
    w = world()
    w.add(approval())
    listener(w.ack, click(user=STRANGER), deps=w.deps)
    assert w.log.names() == ["ack", "precheck", "tell"]
    assert w.client.told == [("CCLICKED", STRANGER, REFUSED)]  # where they clicked
    assert w.client.views == []


def test_a_refusal_of_a_form_button_on_app_home_is_said_in_the_card_s_channel():
    w = world()
    w.add(approval())
    home = click(user=STRANGER, container={"type": "view", "view_id": "VHOME"})
    del home["channel"]  # a click on App Home comes from no channel
    actions.open_edit_form(w.ack, home, deps=w.deps)
    assert w.client.told == [(CARD_CHANNEL, STRANGER, REFUSED)]
    assert w.client.views == []


def test_a_request_that_is_gone_is_said_to_be_gone():
    w = world()
    actions.open_edit_form(w.ack, click(), deps=w.deps)
    assert w.client.told == [("CCLICKED", APPROVER, "I can't find that approval request any more.")]


@pytest.mark.parametrize(("body", "says"), MALFORMED)
def test_a_malformed_form_click_is_refused_without_a_form(body, says):
    w = world()
    w.add(approval())
    actions.open_edit_form(w.ack, body, deps=w.deps)
    assert w.log.names()[0] == "ack"
    assert w.log.of("precheck") == [] and w.client.views == []
    assert [says in text for _, _, text in w.client.told] == ([True] if says else [])


def test_a_form_that_cannot_be_checked_or_opened_says_click_again():
    w = world()
    w.add(approval())
    w.engine.down = True
    actions.open_reject_form(w.ack, click(), deps=w.deps)
    assert w.client.told == [("CCLICKED", APPROVER, actions.NOT_OPENED)]
    w = world()
    w.add(approval())
    w.client.views_fail = True  # the trigger expired
    actions.open_reject_form(w.ack, click(), deps=w.deps)
    assert w.log.names() == ["ack", "precheck", "open_view", "tell"]
    assert w.client.told == [("CCLICKED", APPROVER, actions.NOT_OPENED)]


def test_without_a_trigger_no_form_is_opened():
    w = world()
    w.add(approval())
    body = click()
    del body["trigger_id"]
    actions.open_edit_form(w.ack, body, deps=w.deps)
    assert w.log.names() == ["ack", "precheck"]


def test_the_editor_starts_from_an_edit_that_stands():
    w = world()
    w.add(approval())
    w.engine.standing = Decision("edit", APPROVER, text="Hello, edited")
    actions.open_edit_form(w.ack, click(), deps=w.deps)
    (view,) = w.client.views
    inputs = [b["element"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs[0]["initial_value"] == "Hello, edited"


# A graph's own buttons --------------------------------------------------------------------


def choice_click(name: str, user: str = APPROVER) -> dict[str, object]:
    body = click(user=user)
    body["actions"] = [{"action_id": f"approval.choice:{name}", "value": APPROVAL_ID}]
    return body


def test_a_choice_that_asks_nothing_decides_like_approve():
    w = world()
    w.add(approval(review=with_choices(Choice("escalate", "Escalate"))))
    actions.choice(w.ack, choice_click("escalate"), deps=w.deps)
    assert w.log.names() == ["get_approval", "receive", "ack"]
    ((_, decision, _),) = w.engine.received
    assert (decision.type, decision.by) == ("escalate", APPROVER)


def test_a_choice_that_asks_for_notes_opens_its_form_for_an_approver_only():
    w = world()
    w.add(approval(review=with_choices(Choice("changes", "Request changes", ("notes",)))))
    actions.choice(w.ack, choice_click("changes"), deps=w.deps)
    (view,) = w.client.views
    assert view["callback_id"] == modals.CHOICE
    assert unseal(w.deps.modal_key, view["private_metadata"], APPROVER).name == "changes"
    w.log.clear()
    actions.choice(w.ack, choice_click("changes", STRANGER), deps=w.deps)
    assert w.log.names() == ["get_approval", "ack", "precheck", "tell"]
    assert w.client.told == [("CCLICKED", STRANGER, REFUSED)]  # where they clicked


def test_a_choice_no_longer_offered_or_unreadable_is_explained():
    w = world()
    w.add(approval())
    actions.choice(w.ack, choice_click("changes"), deps=w.deps)
    assert w.client.told == [("CCLICKED", APPROVER, actions.GONE)]
    w = world()
    w.store.down = True
    actions.choice(w.ack, choice_click("changes"), deps=w.deps)
    assert w.log.names() == ["get_approval", "ack", "tell"]
    assert w.client.told == [("CCLICKED", APPROVER, actions.NOT_RECORDED)]
    w = world()
    actions.choice(w.ack, choice_click("x") | {"actions": [{"value": "junk"}]}, deps=w.deps)
    assert w.log.names() == ["ack", "tell"]
    assert "doesn't belong" in w.client.told[0][2]


# View full text -------------------------------------------------------------------------------


def test_the_full_text_opens_for_those_who_may_see_the_request():
    w = world()
    w.add(approval(review=Review("draft", "D", (), long_text="all <of> it")))
    actions.view_full_text(w.ack, click(user=REQUESTER), deps=w.deps)
    (view,) = w.client.views
    assert view["blocks"][0]["text"]["text"] == "all &lt;of&gt; it"
    w.log.clear()
    actions.view_full_text(w.ack, click(user=STRANGER), deps=w.deps)
    assert w.log.names() == ["ack", "get_approval", "tell"]
    assert w.client.told == [("CCLICKED", STRANGER, outcomes.NOT_FOUND)]


# Retry and unknown buttons ------------------------------------------------------------------


def test_a_retry_is_recorded_before_its_ack_and_answered_once_worked():
    """What came of it is said by the inbox's worker (bot.core.run_control), not here."""
    w = world()
    body = click() | {"actions": [{"action_id": "run.retry", "value": RUN_ID}]}
    actions.retry(w.ack, body, deps=w.deps)
    assert w.log.names() == ["receive_retry", "ack"]
    assert w.log[0].args == (RUN_ID, APPROVER, "CCLICKED")
    assert w.client.told == []


@pytest.mark.parametrize(
    ("down", "unknown", "said"),
    [(True, False, actions.NOT_RECORDED), (False, True, actions.RETRY_UNCONFIRMED)],
)
def test_a_retry_the_database_cannot_take_is_acked_then_explained(down, unknown, said):
    w = world()
    w.engine.down, w.engine.unknown = down, unknown
    body = click() | {"actions": [{"action_id": "run.retry", "value": RUN_ID}]}
    actions.retry(w.ack, body, deps=w.deps)
    assert w.log.names() == ["receive_retry", "ack", "tell"]
    assert w.client.told == [("CCLICKED", APPROVER, said)]


@pytest.mark.parametrize("value", ["", "feedface", RUN_ID.upper(), None])
def test_a_retry_button_that_is_not_ours_is_refused(value):
    w = world()
    body = click() | {"actions": [{"action_id": "run.retry", "value": value}]}
    actions.retry(w.ack, body, deps=w.deps)
    assert w.log.names() == ["ack", "tell"]
    assert w.client.told == [("CCLICKED", APPROVER, actions.NOT_A_RETRY)]


def test_retry_and_unknown_buttons_without_a_user_are_only_acked():
    for listener in (actions.retry, actions.unknown_button):
        w = world()
        listener(w.ack, {"actions": [{"value": RUN_ID}]}, deps=w.deps)
        assert w.log.names() == ["ack"]


def test_an_unknown_button_is_answered():
    w = world()
    body = click()
    del body["channel"]
    actions.unknown_button(w.ack, body, deps=w.deps)
    assert w.log.names() == ["ack", "tell"]
    assert w.client.told == [(APPROVER, APPROVER, actions.UNKNOWN_BUTTON)]


def test_the_batch_form_shows_a_standing_edit_s_arguments_where_it_shows_its_inputs():
    # A first approver edited call 1's `to`; the second sees it as edited, read-only text and
    # input alike, not the agent's address above the edited one.
    to = FormField("to", "To", kind="email")
    proposals = (
        Proposal(
            "send_email",
            details=(("to", "agent@evil.example"), ("subject", "Q3")),
            choices=("approve", "edit", "reject"),
            form=(to,),
        ),
        Proposal("post_message", details=(("text", "hi"),), choices=("approve", "reject")),
    )
    w = world()
    w.add(approval(review=Review("hitl", "Two calls", proposals)))
    edit = [{"type": "edit", "values": {"to": "ops@example.com"}}, {"type": "approve"}]
    w.engine.standing = Decision("each", APPROVER, items=edit)
    actions.open_each_form(w.ack, click(), deps=w.deps)
    [view] = w.client.views
    text = json.dumps(view)
    assert "ops@example.com" in text and "agent@evil.example" not in text
    assert "`Q3`" in text and "`hi`" in text


def test_the_full_text_of_a_request_with_an_edit_standing_is_that_edit():
    """The card asks the next signer to approve the edit that stands; its full text is that
    edit's, not what the agent first proposed."""
    w = world()
    w.add(approval(review=draft_review(long_text="The original draft. " * 200)))
    w.engine.standing = Decision("edit", APPROVER, text="The version being signed")
    actions.view_full_text(w.ack, click(), deps=w.deps)
    (view,) = w.client.views
    shown = blocks_text(view["blocks"])
    assert "The version being signed" in shown and "The original draft." not in shown
