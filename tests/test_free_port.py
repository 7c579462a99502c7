"""The ports test bots listen on (tests/support/botproc.py): below the kernel's ephemeral range,
and each pytest-xdist worker's from a share no other worker picks from, so two workers starting
bots at the same moment never pick the same port."""

from __future__ import annotations

import pytest

from tests.support.botproc import _ephemeral_range, free_port


def test_each_worker_picks_from_its_own_share_below_the_ephemeral_range(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    low, _ = _ephemeral_range()
    picks: dict[str, set[int]] = {}
    for worker in ("gw0", "gw1", "gw2", "gw3"):
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        picks[worker] = {free_port() for _ in range(300)}
    ports = [port for taken in picks.values() for port in taken]
    assert len(ports) == len(set(ports))  # no port in two workers' picks
    assert all(1024 <= port < low for port in ports)
    assert all(len(taken) > 100 for taken in picks.values())  # random within the share


def test_outside_xdist_the_whole_range_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    low, _ = _ephemeral_range()
    ports = {free_port() for _ in range(500)}
    assert max(ports) - min(ports) > 0.8 * (low - max(1024, low - 12_000)) and max(ports) < low
