"""``python -m bot``'s command line: help and typos never start the bot; ``try`` and ``audit``
explain themselves with no settings at all; ``audit`` says what went wrong in one line."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import audit_export as audit_cli
from bot.cli import try_graph as try_cli
from bot.cli.parsers import package_version
from bot.core.spelling import edit_distance, suggestion
from bot.store.audit_log import Audit
from bot.store.db import open_database

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def production(tmp_path: Path) -> dict[str, str]:
    """Settings with which ``python -m bot`` would serve (and create its database)."""
    return {
        "PATH": os.environ.get("PATH", ""),
        "SLACK_BOT_TOKEN": "xoxb-production",
        "SLACK_SIGNING_SECRET": "secret",
        "SLACK_API_URL": "http://127.0.0.1:9/api/",  # nothing listens: serving would fail late
        "OPENAI_API_KEY": "sk-production",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.db'}",
        "PORT": str(free_port()),
    }


def bot(*argv: str, env: dict[str, str], cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    # A bot that served would run until the timeout: the test fails instead of hanging.
    return subprocess.run(
        [sys.executable, "-m", "bot", *argv],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("word", ["--help", "-h", "help"])
def test_asking_for_help_prints_every_command_and_starts_nothing(
    word: str, production: dict[str, str], tmp_path: Path
) -> None:
    done = bot(word, env=production)
    assert done.returncode == 0, done.stderr
    for command in ("serve", "try", "audit", "prune", "help", "--since", "--run", "--older-than"):
        assert command in done.stdout
    assert not (tmp_path / "production.db").exists()  # no database opened, none created
    assert "listening" not in done.stderr


def test_a_typo_suggests_the_command_and_starts_nothing(
    production: dict[str, str], tmp_path: Path
) -> None:
    done = bot("tyr", "refund", "order 42", env=production)
    assert done.returncode == 2
    assert "unknown command 'tyr'; did you mean `try`?" in done.stderr
    assert not (tmp_path / "production.db").exists()


@pytest.mark.parametrize("argv", [("--port", "8080"), ("serve", "--port=8080"), ("serve", "x")])
def test_an_option_to_serve_says_settings_come_from_the_environment_and_starts_nothing(
    argv: tuple[str, ...], production: dict[str, str], tmp_path: Path
) -> None:
    done = bot(*argv, env=production)
    assert done.returncode == 2
    assert "settings come from the environment, e.g. PORT=8080 python -m bot" in done.stderr
    assert not (tmp_path / "production.db").exists()


def test_version(production: dict[str, str]) -> None:
    done = bot("--version", env=production)
    assert done.returncode == 0
    assert done.stdout.strip() == f"python -m bot {package_version()}"
    assert package_version() != "unknown"


@pytest.mark.parametrize("command", ["try", "audit", "prune", "serve"])
def test_every_command_explains_itself_with_no_settings(command: str, tmp_path: Path) -> None:
    done = bot(command, "--help", env={"PATH": os.environ.get("PATH", "")})
    assert done.returncode == 0, done.stderr
    assert f"usage: python -m bot {command}" in done.stdout
    assert "Traceback" not in done.stderr


def test_try_help_lists_the_graphs_without_openai_api_key() -> None:
    out = io.StringIO()
    assert try_cli.main(["--help"], stdout=out, env={}) == 0
    text = out.getvalue()
    assert "usage: python -m bot try" in text
    for graph in ("draft", "action", "two_person"):
        assert f"  {graph}  " in text


def test_try_suggests_a_registered_graph_for_a_misspelt_one() -> None:
    out = io.StringIO()
    assert try_cli.main(["drfat", "a note"], stdout=out, env={}) == 2
    assert "Unknown graph 'drfat'. Did you mean `draft`?" in out.getvalue()


def test_suggestions_are_within_two_letters() -> None:
    assert suggestion("tyr", ["serve", "try", "audit"]) == "try"
    assert suggestion("refnd", ["refunds", "draft"]) == "refunds"
    assert suggestion("deploy", ["serve", "try", "audit"]) is None
    assert edit_distance("tyr", "try") == 1 and edit_distance("refnd", "refunds") == 2


# audit -------------------------------------------------------------------------------------
def audit(*argv: str, env: dict[str, str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = audit_cli.main(list(argv), env=env)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_audit_with_an_unreachable_postgres_says_so_in_one_line(capsys) -> None:
    url = f"postgresql://nobody@127.0.0.1:{free_port()}/approvals"  # nothing listens there
    code, said = audit(env={"DATABASE_URL": url}, capsys=capsys)
    assert code == 2
    assert said.startswith("audit: DATABASE_URL: cannot connect to PostgreSQL")
    assert len(said.strip().splitlines()) == 1 and "Traceback" not in said


def test_audit_without_database_url_creates_nothing_and_says_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)
    code, said = audit(env={}, capsys=capsys)
    assert code == 2
    assert "DATABASE_URL is not set" in said
    assert list(tmp_path.iterdir()) == []  # no ./data, no empty database


def test_audit_of_an_unknown_run_says_so_and_exits_1(tmp_path: Path, capsys) -> None:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    db = open_database(url)
    Audit(db).record("started", "3f9a1c2e-run", "U0ALICE")
    db.close()
    code, said = audit("--run", "nope", env={"DATABASE_URL": url}, capsys=capsys)
    assert code == 1
    assert "no run 'nope'" in said
    code, said = audit(
        "--run", "3f9a", "--format", "json", env={"DATABASE_URL": url}, capsys=capsys
    )
    assert code == 0 and '"run": "3f9a1c2e-run"' in said


def test_a_graph_that_calls_the_model_without_a_key_is_a_configuration_error_naming_it() -> None:
    # `try --help`: "2 usage or configuration error", for a setting only the run needs too.
    out = io.StringIO()
    code = try_cli.main(["draft", "a note"], stdin=io.StringIO(""), stdout=out, env={})
    assert code == 2
    assert "Configuration error: OPENAI_API_KEY is not set" in out.getvalue()


def test_help_about_a_command_is_that_commands_help(capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli.main import main

    def serve() -> int:
        raise AssertionError("help must not serve")

    assert main(["help", "audit"], serve) == 0
    assert "usage: python -m bot audit" in capsys.readouterr().out
    assert main(["help", "serve"], serve) == 0
    assert "usage: python -m bot serve" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["audit", "prune"])
def test_audit_and_prune_help_name_the_default_database_they_read(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without DATABASE_URL both read the bot's own ./data/approvals.db: their help says so,
    rather than that they need DATABASE_URL."""
    from bot.cli.main import main

    def serve() -> int:
        raise AssertionError("help must not serve")

    assert main(["help", command], serve) == 0
    described = " ".join(capsys.readouterr().out.split())
    assert "DATABASE_URL, else ./data/approvals.db" in described
    assert main(["--help"], serve) == 0
    assert "needs DATABASE_URL" not in " ".join(capsys.readouterr().out.split())


def test_a_model_server_that_cannot_be_reached_names_the_url_and_the_variable() -> None:
    """`try` against a model server nobody answers at: the run fails saying where it looked
    and which variable to fix, not only "OpenAIConnectionError: Connection error."."""
    url = f"http://127.0.0.1:{free_port()}/v1"  # nothing listens there
    out = io.StringIO()
    env = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": url, "OPENAI_TIMEOUT": "5"}
    code = try_cli.main(["draft", "a note"], stdin=io.StringIO(""), stdout=out, env=env)
    assert code == 1
    said = out.getvalue()
    assert f"cannot reach the model's server at {url}" in said, said
    assert "check OPENAI_BASE_URL" in said
