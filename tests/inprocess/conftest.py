"""Fixtures of the in-process tests: graphs the bot did not write (``tests/byo``), and a proxy in
front of PostgreSQL (``proxy``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.pgproxy import CuttingProxy

BYO = Path(__file__).resolve().parents[1] / "byo"


@pytest.fixture
def effects(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "effects.jsonl"
    monkeypatch.setenv("BYO_EFFECTS", str(path))  # the graphs run here, and read it from here
    return path


@pytest.fixture
def byo(bot_in_process, effects):
    def start(**env: str):
        return bot_in_process(
            LANGGRAPH_CONFIG=str(BYO / "langgraph.json"),
            POLICY_FILE=str(BYO / "policy.yaml"),
            BYO_EFFECTS=str(effects),
            **env,
        )

    return start


@pytest.fixture
def proxy() -> Iterator[CuttingProxy]:
    """A proxy in front of PostgreSQL that can cut or freeze the connections through it."""
    cutting = CuttingProxy()
    yield cutting
    cutting.close()
