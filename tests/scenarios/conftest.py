"""Fixtures shared by the scenario tests of graphs the bot did not write (``tests/byo``)."""

from __future__ import annotations

from pathlib import Path

import pytest

BYO = Path(__file__).resolve().parents[1] / "byo"


@pytest.fixture
def effects(tmp_path: Path) -> Path:
    return tmp_path / "effects.jsonl"


@pytest.fixture
def byo(start_bot, effects):
    def start(**env: str):
        return start_bot(
            LANGGRAPH_CONFIG=str(BYO / "langgraph.json"),
            POLICY_FILE=str(BYO / "policy.yaml"),
            BYO_EFFECTS=str(effects),
            **env,
        )

    return start
