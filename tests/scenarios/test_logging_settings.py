"""LOG_LEVEL and LOG_FORMAT are settings like any other: a typo stops start-up with one line
naming the variable (exit 2, as every other setting), the values are read as load_settings reads
them (case and spaces), and langgraph.json's `env` file may hold them (README: "they are read
before the bot's own settings")."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # tests/scenarios -> the repository


def _serve(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "graphs").symlink_to(ROOT / "graphs")
    (tmp_path / "langgraph.json").write_text((ROOT / "langgraph.json").read_text())
    base = {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": "xoxb-1",
        "SLACK_SIGNING_SECRET": "s",
        # Nothing listens there: start-up logs one line (slack_sdk's) and stops with exit 2.
        "SLACK_API_URL": "http://127.0.0.1:9/api/",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.db'}",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_log_level_typo_is_a_configuration_error_naming_log_level(tmp_path: Path) -> None:
    done = _serve(tmp_path, LOG_LEVEL="verbose")
    assert "Traceback" not in done.stderr, done.stderr[-400:]
    assert done.returncode == 2
    assert "LOG_LEVEL" in done.stderr


def test_log_format_json_in_capitals_gives_json_lines(tmp_path: Path) -> None:
    # load_settings accepts LOG_FORMAT=JSON (it lower-cases the value); the logs must be JSON.
    done = _serve(tmp_path, LOG_FORMAT="JSON")
    first = done.stderr.splitlines()[0]
    assert first.startswith('{"time"'), first


def test_log_format_from_the_langgraph_json_env_file_is_applied(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_FORMAT=json\n")  # langgraph.json: "env": ".env"
    done = _serve(tmp_path)
    first = done.stderr.splitlines()[0]
    assert first.startswith('{"time"'), first
