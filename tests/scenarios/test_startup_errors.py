"""Start-up problems end in one line naming the setting to fix and a non-zero exit, quickly,
never in a traceback."""

from __future__ import annotations

import socket
import time

import pytest

from tests.support import prefork as forks
from tests.support.botproc import ROOT, free_port
from tests.support.policies import BAD_POLICIES, policy_file, refusal


def run_bot(env: dict[str, str], timeout: float = 30) -> tuple[int, str, float]:
    started = time.monotonic()
    done = forks.run_bot([], env, ROOT, timeout=timeout)
    return done.returncode, done.stderr, time.monotonic() - started


@pytest.fixture
def database_url(tmp_path) -> str:
    """SQLite: these fail before any database work (the PostgreSQL case names its own URL)."""
    return f"sqlite:///{tmp_path / 'bot.db'}"


@pytest.fixture
def env(bot_env):
    import os

    return {**os.environ, **bot_env, "PORT": str(free_port())}


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        ({"PORT": "70000"}, "PORT: 70000 is not a TCP port"),
        ({"PORT": "http"}, "PORT: 'http' is not a number"),
        (
            {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"},
            "DATABASE_URL: cannot connect to PostgreSQL",
        ),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL: a 'mysql' URL is not supported"),
        ({"SLACK_API_URL": "http://127.0.0.1:1/api/"}, "Could not reach Slack at"),
        ({"LANGGRAPH_CONFIG": "/nonexistent/langgraph.json"}, "LANGGRAPH_CONFIG: "),
        ({"DEFAULT_GRAPH": "nope"}, "DEFAULT_GRAPH: 'nope' is not in"),
        ({"SHUTDOWN_GRACE": "-1"}, "SHUTDOWN_GRACE: must be greater than zero"),
        # The old shared token let its holder decide as anyone: refused unless bound to one.
        ({"API_TOKEN": "0123456789abcdef0"}, "API_TOKEN: a single shared token let"),
        ({"API_TOKENS": "ci:0123456789abcdef0:bob"}, "API_TOKENS entry 1: 'bob' is not"),
    ],
)
def test_a_bad_setting_is_named_and_the_bot_exits(env, overrides, names, database_url):
    code, stderr, took = run_bot({**env, **overrides})
    assert code == 2, stderr
    assert names in stderr
    assert "Traceback" not in stderr
    assert took < 20


def test_a_graph_that_fails_to_load_names_the_file_the_graph_and_the_cause(
    env, tmp_path, database_url
):
    (tmp_path / "broken.py").write_text("raise RuntimeError('no model configured')\n")
    (tmp_path / "langgraph.json").write_text('{"graphs": {"broken": "./broken.py:graph"}}')
    code, stderr, _ = run_bot({**env, "LANGGRAPH_CONFIG": str(tmp_path / "langgraph.json")})
    assert code == 2
    assert "langgraph.json" in stderr and "'broken'" in stderr
    assert "no model configured" in stderr and "Traceback" not in stderr


# One mistake through the real process (one line, exit 2, no traceback); each of them stops the
# bot's start-up with its message in tests/inprocess/test_startup_policy.py (build_deps, as here),
# and the loader and `try` say the same (tests/test_policy_file.py, tests/test_try_cli.py).
@pytest.mark.parametrize(("text", "said"), BAD_POLICIES[:1])
def test_a_policy_file_mistake_stops_start_up_naming_file_section_and_key(
    env, tmp_path, database_url, text, said
):
    """Each was silent before: the bot started and the rule was gone."""
    path = policy_file(tmp_path, text)
    code, stderr, took = run_bot({**env, "POLICY_FILE": str(path)})
    assert code == 2, stderr
    assert f"Configuration error: {refusal(path, said)}\n" in stderr
    assert "Traceback" not in stderr
    assert took < 20


def test_a_taken_port_in_socket_mode_is_said_naming_port_and_the_bot_exits(env, fake_slack):
    # Socket Mode still serves /healthz and /metrics on PORT: taken (3000 often is, on a
    # laptop), it is said as HTTP mode says it, not logged as served while another process
    # answers the probes there.
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        socket_mode = {
            "SLACK_BOT_TOKEN": fake_slack.bot_token,
            "SLACK_APP_TOKEN": fake_slack.app_token,
            "SLACK_API_URL": fake_slack.api_url,
            "PORT": str(port),
        }
        code, stderr, _ = run_bot({**env, **socket_mode})
    assert code == 2, stderr
    taken = f"Could not listen on PORT {port}: is another process using it? Stop it, or set PORT"
    assert f"{taken} to another port." in stderr
    assert "Traceback" not in stderr


def test_a_taken_port_in_http_mode_names_port_and_the_fix(env):
    # A second bot on the default PORT: said in one line with what to do about it.
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, stderr, _ = run_bot({**env, "PORT": str(port)})
    assert code != 0, stderr
    assert f"Could not listen on PORT {port}: is another process using it?" in stderr
    assert "Stop it, or set PORT to another port." in stderr
    assert "Traceback" not in stderr
