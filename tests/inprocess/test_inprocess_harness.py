"""The in-process bot's own bookkeeping (tests/support/inprocess_bot.py): ``settle()`` reads the
set of listener futures from the test's thread while the bot's threads may add to it."""

from __future__ import annotations

import time

from bot.slack.listeners.actions import UNKNOWN_BUTTON
from tests.support import slack_requests as sr


def test_a_request_s_listener_adds_nothing_to_settle_s_set_after_its_answer(
    bot_in_process, fake_slack
):
    """Over HTTP a listener runs in place on its dispatch's thread (ListenerPool.dispatch), so
    the future Bolt's submit returns for it is only made once the listener has ended: long
    after the answer, while a test may be in settle(), iterating that set ("Set changed size
    during iteration"). The dispatch's own future, recorded before the answer, already
    covers the listener."""
    bot = bot_in_process()
    fake_slack.hold("chat.postEphemeral")  # the note the listener sends after its ack
    try:
        answer = bot.send(sr.click_body("no_such_button", "0" * 16, "U0REQ", "C0REQ", "1.0"))
        assert answer.status_code == 200
        deadline = time.monotonic() + 10
        while not fake_slack.calls("chat.postEphemeral"):  # held: sent, not answered
            assert time.monotonic() < deadline, "the listener sent no note after its ack"
            time.sleep(0.01)
        [note] = fake_slack.calls("chat.postEphemeral")
        assert note.params["text"] == UNKNOWN_BUTTON
        recorded = set(bot._listeners)
    finally:
        fake_slack.release("chat.postEphemeral")
    bot.settle()
    assert set(bot._listeners) == recorded
