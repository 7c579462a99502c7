"""A Slack request is answered as soon as its listener acks (bot.http.asgi.dispatch with
bot.runtime.worker.ListenerPool), not at Bolt's next 10 ms look for the ack; over HTTP
(bot.http.asgi.answered) the dispatch and its listener run on one thread."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.listener import thread_runner

from bot.http import asgi
from bot.http.asgi import answered, dispatch
from bot.runtime.worker import ListenerPool
from bot.slack.blocks import card
from tests.support import slack_requests as sr


class _Shim:
    """The ``time`` module, with ``sleep`` replaced."""

    def __init__(self, module: Any, sleep: Any) -> None:
        self._module, self.sleep = module, sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


BOLT_LOOKED = threading.Event()  # Bolt's loop looked for the ack, found none and slept


@pytest.fixture
def bolt_sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every sleep of Bolt's loop that waits for a listener's ack."""
    slept: list[float] = []
    BOLT_LOOKED.clear()

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        BOLT_LOOKED.set()
        time.sleep(seconds)

    monkeypatch.setattr(thread_runner, "time", _Shim(time, sleep))
    return slept


def _bare_app(pool: Any) -> App:
    def authorize(**_: Any) -> AuthorizeResult:  # no Slack to ask
        return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token="xoxb-test")

    return App(
        signing_secret=sr.SIGNING_SECRET,
        authorize=authorize,
        request_verification_enabled=False,
        process_before_response=False,
        listener_executor=pool,
    )


def _app(pool: Any, release: threading.Event, ended: threading.Event) -> App:
    app = _bare_app(pool)

    @app.action(card.APPROVE)
    def approve(ack: Any) -> None:
        # Ack only once Bolt has looked for it and found none (a plain pool: the dispatch goes
        # on at once); with a ListenerPool Bolt cannot look before the ack, and the wait ends.
        BOLT_LOOKED.wait(0.2)
        ack()
        release.wait(5)  # work after the ack, still going when the answer goes back
        ended.set()

    return app


def _click() -> BoltRequest:
    body = sr.click_body(card.APPROVE, "0123456789abcdef", "U0BOSS", "C0REQ", "1.0")
    form = {"content-type": ["application/x-www-form-urlencoded"]}
    return BoltRequest(body=body.decode(), headers=form)


def test_the_answer_goes_back_at_the_ack_while_the_listener_goes_on(bolt_sleeps):
    release, ended = threading.Event(), threading.Event()
    pool = ListenerPool(max_workers=2, thread_name_prefix="test-bolt")
    try:
        response = dispatch(_app(pool, release, ended), _click())
        assert response.status == 200
        assert not ended.is_set()  # answered while the listener still works
        assert bolt_sleeps == []  # Bolt found the ack at its first look
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert ended.is_set()


def test_bolt_alone_looks_for_the_ack_every_10_ms(bolt_sleeps):
    """The control: with a plain pool, the same dispatch sleeps at least once."""
    release, ended = threading.Event(), threading.Event()
    pool = ThreadPoolExecutor(max_workers=2)
    try:
        response = dispatch(_app(pool, release, ended), _click())
        assert response.status == 200
        assert bolt_sleeps and set(bolt_sleeps) == {0.01}
    finally:
        release.set()
        pool.shutdown(wait=True)


def _dispatched(app: App) -> Any:
    return dispatch(app, _click())


def _answered(app: App) -> Any:
    return asyncio.run(answered(app, _click(), time.monotonic()))


@pytest.mark.parametrize("send", [_dispatched, _answered], ids=["socket-mode", "http"])
def test_listeners_held_after_their_acks_do_not_hold_up_the_next_ack(send):
    """Every thread of the pool busy after its ack (Slack holding the note each listener sends):
    the next request still gets its ack at once, on a thread of its own, not a 404 after 3 s."""
    release = threading.Event()
    acked: list[str] = []
    pool = ListenerPool(max_workers=2, thread_name_prefix="test-bolt", overflow=2)
    app = _bare_app(pool)

    @app.action(card.APPROVE)
    def approve(ack: Any, body: dict[str, Any]) -> None:
        ack()
        acked.append(body["user"]["id"])
        release.wait(10)  # a Slack call after the ack that Slack holds

    held = [threading.Thread(target=send, args=(app,)) for _ in range(2)]
    try:
        for thread in held:
            thread.start()
        deadline = time.monotonic() + 5
        while len(acked) < 2:  # both threads of the pool busy after their acks
            assert time.monotonic() < deadline
            time.sleep(0.01)
        began = time.monotonic()
        assert send(app).status == 200
        assert time.monotonic() - began < 1.0
    finally:
        release.set()
        for thread in held:
            thread.join(5)
        pool.shutdown(wait=True)


def test_over_http_the_listener_runs_on_the_dispatch_s_thread_and_is_answered_at_its_ack(
    bolt_sleeps,
):
    """One hand-off a request, not two: Bolt's middleware and the listener run on the same
    thread of the pool, and the answer leaves at the ack while the listener goes on."""
    release, ended = threading.Event(), threading.Event()
    threads: dict[str, threading.Thread] = {}
    pool = ListenerPool(max_workers=2, thread_name_prefix="test-bolt")
    app = _bare_app(pool)

    @app.middleware
    def note(next: Any) -> Any:
        threads["middleware"] = threading.current_thread()
        return next()

    @app.action(card.APPROVE)
    def approve(ack: Any) -> None:
        threads["listener"] = threading.current_thread()
        ack()
        release.wait(5)
        ended.set()

    try:
        response = _answered(app)
        assert response.status == 200
        assert not ended.is_set()  # answered while the listener still works
        assert threads["listener"] is threads["middleware"]
        assert threads["listener"] is not threading.current_thread()
        assert bolt_sleeps == []
    finally:
        release.set()
        pool.shutdown(wait=True)
    assert ended.is_set()


def test_over_http_a_listener_that_fails_before_its_ack_is_answered_with_bolt_s_500():
    pool = ListenerPool(max_workers=2, thread_name_prefix="test-bolt")
    app = _bare_app(pool)

    @app.action(card.APPROVE)
    def approve(ack: Any) -> None:
        raise RuntimeError("broken before the ack")

    try:
        assert _answered(app).status == 500  # create_asgi answers Slack 400 for it
    finally:
        pool.shutdown(wait=True)


def test_over_http_a_listener_that_never_acks_is_not_waited_for_past_bolt_s_3_s(monkeypatch):
    monkeypatch.setattr(asgi, "ACK_TIMEOUT", 0.2)
    release = threading.Event()
    pool = ListenerPool(max_workers=2, thread_name_prefix="test-bolt")
    app = _bare_app(pool)

    @app.action(card.APPROVE)
    def approve(ack: Any) -> None:
        release.wait(10)

    try:
        began = time.monotonic()
        response = _answered(app)
        assert response.status == 404 and time.monotonic() - began < 2
    finally:
        release.set()
        pool.shutdown(wait=True)


def test_over_http_a_listener_that_fails_after_its_ack_frees_its_thread_at_once(bolt_sleeps):
    """A listener that acks, then raises (a note to the person that Slack refuses): Bolt drops
    the ack's answer (thread_runner sets ``ack.response`` back to None) and would poll for
    another until its 3 s are gone, holding the pool's thread, then say the listener never
    acked and try the next listener. The answer went at the ack; Bolt must find it there."""
    pool = ListenerPool(max_workers=2, thread_name_prefix="test-bolt")
    app = _bare_app(pool)
    ran: list[str] = []

    @app.action(card.APPROVE)
    def approve(ack: Any) -> None:
        ack()
        raise RuntimeError("a Slack call after the ack failed")

    @app.action(card.APPROVE)
    def another(ack: Any) -> None:  # a second listener matching the same click
        ran.append("another")
        ack()

    began = time.monotonic()
    try:
        assert _answered(app).status == 200
    finally:
        pool.shutdown(wait=True)
    assert time.monotonic() - began < 1.0, "the dispatch held its thread after the ack"
    assert bolt_sleeps == [] and ran == []
