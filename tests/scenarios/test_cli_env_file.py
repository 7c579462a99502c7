"""`audit` and `prune` are the bot's own commands, run "with the bot's DATABASE_URL" (README,
Retention). The bot (and `try`) read langgraph.json's `env` file before their settings (README:
"the file may hold OPENAI_API_KEY or SLACK_BOT_TOKEN"); an operator who keeps DATABASE_URL there
must get the same database from `audit` and `prune`, not "DATABASE_URL is not set" (or, worse,
a stale ./data/approvals.db)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.store.db import open_database

ROOT = Path(__file__).resolve().parents[2]


def _project(tmp_path: Path) -> Path:
    db = tmp_path / "elsewhere" / "bot.db"
    db.parent.mkdir()
    open_database(f"sqlite:///{db}").close()  # the bot's database, with its tables
    (tmp_path / "langgraph.json").write_text((ROOT / "langgraph.json").read_text())  # env: .env
    (tmp_path / ".env").write_text(f"DATABASE_URL=sqlite:///{db}\n")
    return tmp_path


@pytest.mark.parametrize(
    "argv", [["audit", "--since", "1d"], ["prune", "--older-than", "90d", "--dry-run"]]
)
def test_the_langgraph_json_env_files_database_url_is_used(tmp_path: Path, argv: list[str]) -> None:
    cwd = _project(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        cwd=cwd,
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
