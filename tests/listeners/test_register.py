"""The one registration: every listener is reachable through a real Bolt app, by the request
Slack would send, with the fakes bound in as ``deps``."""

from __future__ import annotations

import inspect
import json
import threading
from typing import Any

import pytest
from slack_bolt import App, BoltRequest, BoltResponse
from slack_bolt.authorization import AuthorizeResult

from bot.slack.blocks import modals
from bot.slack.listeners import actions, commands, home, register, views
from tests.listeners.doubles import (
    APPROVAL_ID,
    APPROVER,
    RUN_ID,
    World,
    approval,
    click,
    submission,
    world,
)


def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult:
    return AuthorizeResult(
        enterprise_id=None, team_id="T1", bot_token="xoxb-test", bot_user_id="UBOT", bot_id="B1"
    )


def app_for(w: World) -> App:
    app = App(
        signing_secret="unused",
        authorize=authorize,
        request_verification_enabled=False,
        process_before_response=True,  # the listener has run when dispatch returns
    )
    register(app, w.deps)
    return app


def send(app: App, body: dict[str, Any]) -> BoltResponse:
    return app.dispatch(BoltRequest(body=body, mode="socket_mode"))


def button(action_id: str, value: str = APPROVAL_ID) -> dict[str, Any]:
    return click(value=value, team={"id": "T1"}) | {
        "actions": [{"type": "button", "action_id": action_id, "value": value}]
    }


def test_an_approve_click_reaches_its_listener():
    w = world()
    response = send(app_for(w), button("approval.approve"))
    assert response.status == 200
    ((approval_id, decision, _),) = w.engine.received
    assert (approval_id, decision.type, decision.by) == (APPROVAL_ID, "approve", APPROVER)


def test_a_retry_click_reaches_its_listener():
    w = world()
    assert send(app_for(w), button("run.retry", RUN_ID)).status == 200
    assert [c.args[:2] for c in w.log.of("receive_retry")] == [(RUN_ID, APPROVER)]
    assert w.client.told == []  # what came of it is said once it is worked


@pytest.mark.parametrize(
    ("action_id", "value", "said"),
    [
        ("approval.choice:gone", APPROVAL_ID, actions.GONE),
        ("somebody.elses", APPROVAL_ID, actions.UNKNOWN_BUTTON),
    ],
)
def test_choices_and_unknown_buttons_reach_theirs(action_id, value, said):
    w = world()
    w.add(approval())
    assert send(app_for(w), button(action_id, value)).status == 200
    assert [text for _, _, text in w.client.told] == [said]


def test_a_form_button_opens_its_form():
    w = world()
    w.add(approval())
    send(app_for(w), button("approval.reject"))
    assert [v["callback_id"] for v in w.client.views] == [modals.REJECT]


def test_submissions_reach_their_listener_and_unknown_forms_are_answered():
    w = world()
    w.add(approval())
    body = submission(w.seal(), {modals.REASON_BLOCK: "no"}) | {"team": {"id": "T1"}}
    body["view"] |= {"callback_id": modals.REJECT, "type": "modal", "id": "V1"}
    assert send(app_for(w), body).status == 200
    assert [d.type for _, d, _ in w.engine.received] == ["reject"]
    body["view"]["callback_id"] = "from.an.older.bot"
    response = send(app_for(w), body)
    assert json.loads(response.body)["response_action"] == "update"


def test_the_command_and_the_home_tab_reach_theirs():
    w = world()
    app = app_for(w)
    body = {"command": "/agent", "text": "help", "user_id": APPROVER, "team_id": "T1"}
    response = send(app, body)
    assert "Usage: `/agent" in json.loads(response.body)["text"]
    event = {"type": "app_home_opened", "user": APPROVER, "tab": "home"}
    send(app, {"type": "event_callback", "team_id": "T1", "event": event})
    assert [c.args[0] for c in w.log.of("publish_home")] == [APPROVER]


def test_every_listener_is_registered_once_by_name():
    app = app_for(world())
    registered = [
        inspect.unwrap(listener.ack_function).__name__
        for listener in app._listeners  # Bolt keeps them in registration order
    ]
    public = [
        name
        for module in (commands, actions, views, home)
        for name, function in inspect.getmembers(module, inspect.isfunction)
        if function.__module__ == module.__name__ and not name.startswith("_") and listens(function)
    ]
    assert sorted(registered) == sorted(public)
    assert registered[-3:] == ["retry", "unknown_button", "unknown_form"]  # catch-alls last


def listens(function: Any) -> bool:
    """Whether a function takes what Bolt hands a listener: an ack, or an event."""
    return bool({"ack", "event"} & set(inspect.signature(function).parameters))


def stalled_app(w: World, ack_timeout: float = 0.3) -> tuple[App, threading.Event]:
    """An app as the bot runs it (listeners in Bolt's pool, answered at the ack), whose engine
    is stuck recording until the event is set; Bolt waits ``ack_timeout`` for an ack (3 s in
    production) before it tries the next listener that matches."""
    release = threading.Event()
    receive = w.engine.receive

    def stuck(approval_id: str, decision: Any, channel: str | None) -> str:
        release.wait(10)
        return receive(approval_id, decision, channel)

    w.engine.receive = stuck  # type: ignore[method-assign]
    app = App(
        signing_secret="unused",
        authorize=authorize,
        request_verification_enabled=False,
        process_before_response=False,
    )
    register(app, w.deps)
    for listener in app._listeners:
        listener.ack_timeout = ack_timeout  # type: ignore[assignment]
    return app, release


def finish(app: App, release: threading.Event) -> None:
    """Let the stuck listener go on, and wait until every listener Bolt started has returned."""
    release.set()
    app.listener_runner.listener_executor.shutdown(wait=True)  # type: ignore[attr-defined]


def test_a_click_whose_listener_has_not_acked_is_not_answered_as_an_unknown_button():
    """Bolt hands a request whose listener did not ack in time to the next listener that
    matches: the catch-all told the person "I don't know that button; nothing changed" while
    the click went on to be recorded and carried out."""
    w = world()
    w.add(approval())
    app, release = stalled_app(w)
    try:
        response = send(app, button("approval.approve"))
    finally:
        finish(app, release)
    assert response.status == 404  # no answer: Slack says it failed, nobody says "nothing changed"
    assert actions.UNKNOWN_BUTTON not in [text for _, _, text in w.client.told]
    assert [d.type for _, d, _ in w.engine.received] == ["approve"]


def test_a_submission_whose_listener_has_not_acked_is_not_answered_as_an_unknown_form():
    w = world()
    w.add(approval())
    body = submission(w.seal(), {modals.REASON_BLOCK: "no"}) | {"team": {"id": "T1"}}
    body["view"] |= {"callback_id": modals.REJECT, "type": "modal", "id": "V1"}
    app, release = stalled_app(w)
    try:
        response = send(app, body)
    finally:
        finish(app, release)
    assert response.status == 404
    assert views.UNKNOWN_FORM not in str(response.body)
    assert [d.type for _, d, _ in w.engine.received] == ["reject"]


def test_the_catch_alls_still_answer_what_no_listener_owns_when_listeners_run_in_the_pool():
    w = world()
    app, release = stalled_app(w)
    try:
        assert send(app, button("somebody.elses")).status == 200
        body = submission(w.seal(), {}) | {"team": {"id": "T1"}}
        body["view"] |= {"callback_id": "from.an.older.bot", "type": "modal", "id": "V1"}
        answered = send(app, body)
    finally:
        finish(app, release)
    assert [text for _, _, text in w.client.told] == [actions.UNKNOWN_BUTTON]
    assert views.UNKNOWN_FORM in str(answered.body)
