"""App Home, called as Bolt would call it, with a fake Slack client."""

from __future__ import annotations

import pytest

from bot.domain.models import Decision
from bot.slack.blocks import card as ids
from bot.slack.listeners.home import home_opened
from tests.listeners.doubles import APPROVAL_ID, APPROVER, REQUESTER, approval, run, world
from tests.support.cards import blocks_text


def test_opening_the_home_tab_publishes_what_waits_and_your_runs():
    w = world()
    w.add(approval())
    w.store.runs.append(run())
    home_opened({"type": "app_home_opened", "user": REQUESTER, "tab": "home"}, deps=w.deps)
    ((user, view),) = [c.args for c in w.log.of("publish_home")]
    assert user == REQUESTER
    assert view["type"] == "home"
    text = str(view["blocks"])
    assert "a note" in text


@pytest.mark.parametrize(
    "event",
    [
        {"type": "app_home_opened", "user": REQUESTER, "tab": "messages"},
        {"type": "app_home_opened", "tab": "home"},
        {"type": "app_home_opened", "user": "", "tab": "home"},
    ],
)
def test_other_tabs_and_events_without_a_user_publish_nothing(event):
    w = world()
    home_opened(event, deps=w.deps)
    assert w.log.of("publish_home") == []


def _actions(view, approval_id):
    [block] = [b for b in view["blocks"] if b.get("block_id") == f"decide:{approval_id}"]
    return [e["action_id"] for e in block["elements"]]


def test_a_request_with_an_edit_standing_is_not_approved_from_home():
    """The Home does not show the edit its signers are asked to approve: Approve is for its
    card, where it can be read; Edit (which starts from that version) and Reject stay."""
    w = world()
    w.add(approval())
    home_opened({"type": "app_home_opened", "user": REQUESTER, "tab": "home"}, deps=w.deps)
    ((_, plain),) = [c.args for c in w.log.of("publish_home")]
    assert ids.APPROVE in _actions(plain, APPROVAL_ID)

    w.engine.standing = Decision("edit", APPROVER, text="Rewritten by someone else")
    home_opened({"type": "app_home_opened", "user": REQUESTER, "tab": "home"}, deps=w.deps)
    (_, (_, edited)) = [c.args for c in w.log.of("publish_home")]
    assert _actions(edited, APPROVAL_ID) == [ids.EDIT, ids.REJECT]
    shown = blocks_text(edited["blocks"])
    assert f"Edited by <@{APPROVER}>: read and sign it on its card." in shown
    assert "|card>" in shown  # a link to it
