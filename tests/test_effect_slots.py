"""Slow targets hold only so many workers: an outbound call takes a slot for its whole request,
and one that finds none free is not sent, not counted as a try, and waits its turn (run again
later as the same attempt). Each call ends at its total deadline, however slowly the other side
answers."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from bot.core.effect_slots import EffectSlots
from bot.core.ledger import EffectTry, Ledger, WaitsItsTurn, not_due
from bot.store.db import open_database
from graphs.actions import default_registry
from graphs.addresses import Allowlist
from graphs.outbound import NoAnswer, NoSlot, Outbound
from tests.fakes.smtp import FakeSMTP
from tests.fakes.trickle import TrickleServer


@pytest.fixture
def trickle() -> Iterator[TrickleServer]:
    with TrickleServer(every=0.5) as server:
        yield server


def _wait(ready, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert time.monotonic() < deadline, f"not within {timeout}s: {what}"
        time.sleep(0.02)


def test_every_slot_taken_means_no_slot_at_once_and_a_freed_one_is_taken_again():
    slots = EffectSlots(2)
    with slots.take(), slots.take():
        assert slots.taken == 2
        started = time.monotonic()
        with pytest.raises(NoSlot), slots.take():
            pytest.fail("no slot was free")
        assert time.monotonic() - started < 0.1
    with slots.take():
        assert slots.taken == 1
    assert slots.taken == 0


def test_a_trickling_server_is_cut_off_at_the_deadline_and_holds_its_slot_until_then(trickle):
    slots = EffectSlots(1)
    outbound = Outbound(Allowlist.from_text(trickle.base_url), deadline=1.5, slots=slots.take)
    failures: list[BaseException] = []

    def call() -> None:
        try:
            outbound.request("GET", trickle.url("/status"))
        except BaseException as exc:
            failures.append(exc)

    started = time.monotonic()
    first = threading.Thread(target=call)
    first.start()
    _wait(lambda: len(trickle.hits()) == 1, "the first call reached the server")
    with pytest.raises(NoSlot):  # the slow call holds the only slot: the next is not sent
        outbound.request("GET", trickle.url("/status"))
    assert len(trickle.hits()) == 1
    first.join(10)
    took = time.monotonic() - started
    assert [type(f) for f in failures] == [NoAnswer]  # a byte every 0.5 s: never done alone
    assert 1.4 <= took < 3.5, took
    assert slots.taken == 0
    _wait(lambda: trickle.open_connections == 0, "the connection was closed at the deadline")


def test_an_effect_without_a_slot_is_not_tried_and_runs_later_as_the_same_attempt(tmp_path):
    db = open_database(f"sqlite:///{tmp_path / 'bot.db'}")
    told: list[EffectTry] = []
    try:
        ledger = Ledger(db, time.time, observe=told.append)
        slots = EffectSlots(1)
        calls: list[str] = []

        def call() -> str:
            with slots.take():
                calls.append("sent")
                return "done"

        with slots.take():  # another call holds the only slot
            with pytest.raises(WaitsItsTurn) as waited:
                ledger.once("run:execute", call)
            assert not_due(waited.value)  # an engine counts no attempt for it
        assert calls == []
        row = db.fetch_one("SELECT status, attempts FROM effects WHERE key = 'run:execute'")
        assert row == {"status": "retry", "attempts": 0}
        assert ledger.once("run:execute", call) == "done"  # its turn: at once, no backoff
        assert calls == ["sent"]
        row = db.fetch_one("SELECT status, attempts FROM effects WHERE key = 'run:execute'")
        assert row == {"status": "done", "attempts": 1}
        assert told == []  # waiting its turn is no try: nothing in the audit trail
    finally:
        db.close()


def test_an_email_holds_an_outbound_slot_so_a_stalled_mail_server_takes_only_so_many_workers():
    # A mail server may stall for its whole deadline (60 s), as a webhook may: emails take the
    # same slots, so they hold at most that many workers and the rest wait their turn.
    slots = EffectSlots(1)
    with FakeSMTP() as smtp:
        registry = default_registry(
            lambda c, t: "", smtp.url, "agent@example.com", slots=slots.take
        )
        email = {"to": "ops@example.com", "subject": "Numbers", "body": "Attached."}
        with slots.take():  # another call holds the only slot: this email is not sent
            with pytest.raises(NoSlot):
                registry.run("send_email", email)
            assert smtp.messages == []
        registry.run("send_email", email)  # a slot is free: sent
        assert len(smtp.wait_for_messages(1)) == 1 and slots.taken == 0
