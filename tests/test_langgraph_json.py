"""``langgraph.json`` in LangGraph CLI's format, fully: module entries as well as files,
``dependencies`` on the path (and refused when missing), the ``env`` file read with the
process environment winning."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from langgraph.checkpoint.memory import MemorySaver

from bot.agents.langgraph_json import apply_config_env, config_env
from bot.agents.registry import load_registry
from bot.cli import try_graph as try_cli
from bot.config import ConfigError

GRAPH = """
from typing import TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import interrupt

{imports}


class State(TypedDict, total=False):
    request: str
    result: str


def ask(state):
    answer = interrupt({{"question": state["request"]}})
    return {{"result": {result}}}


def build():
    graph = StateGraph(State)
    graph.add_node("ask", ask)
    graph.add_edge(START, "ask")
    graph.add_edge("ask", END)
    return graph
"""


@pytest.fixture(autouse=True)
def isolated_imports(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """The registry puts folders on sys.path and modules in sys.modules: undo both."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in [n for n in sys.modules if n == "agents" or n.startswith("agents.")]:
        monkeypatch.delitem(sys.modules, name)  # tests/byo has an `agents` module of its own
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        file = str(getattr(sys.modules[name], "__file__", None) or "")
        if name.startswith("_registered_graph_") or file.startswith(str(tmp_path)):
            del sys.modules[name]


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))


def project(root: Path, graphs: dict[str, str], **extra: object) -> Path:
    write(root, "agents/__init__.py", "")
    write(root, "agents/mailer.py", GRAPH.format(imports="", result='"sent: " + str(answer)'))
    config = root / "langgraph.json"
    config.write_text(json.dumps({"graphs": graphs, **extra}))
    return config


def load(config: Path) -> dict:
    return load_registry(config, MemorySaver(), {})


def test_module_and_file_entries_both_load(tmp_path: Path) -> None:
    config = project(
        tmp_path,
        {"by_module": "agents.mailer:build", "by_file": "./agents/mailer.py:build"},
        dependencies=["."],
    )
    registry = load(config)
    assert set(registry) == {"by_module", "by_file"}
    assert registry["by_module"].description == registry["by_file"].description
    assert sys.modules["agents.mailer"].__file__ == str(tmp_path / "agents" / "mailer.py")


def test_a_module_entry_that_is_not_there_names_file_graph_and_cause(tmp_path: Path) -> None:
    config = project(tmp_path, {"mailer": "agents.mialer:build"}, dependencies=["."])
    with pytest.raises(ConfigError) as info:
        load(config)
    message = str(info.value)
    assert f"LANGGRAPH_CONFIG: {config}: graph 'mailer' (agents.mialer:build)" in message
    assert "no module agents.mialer on sys.path" in message


def test_a_dependencies_folder_is_importable_by_the_graphs(tmp_path: Path) -> None:
    write(tmp_path, "lib/refund_rules.py", "def limit():\n    return 'at most 100 EUR'\n")
    write(
        tmp_path,
        "graphs_here/refund.py",
        GRAPH.format(imports="from refund_rules import limit", result="limit()"),
    )
    config = project(tmp_path, {"refund": "./graphs_here/refund.py:build"})
    (config).write_text(
        json.dumps(
            {"graphs": {"refund": "./graphs_here/refund.py:build"}, "dependencies": [".", "./lib"]}
        )
    )
    compiled = load(config)["refund"].graph
    thread = {"configurable": {"thread_id": "t1"}}
    compiled.invoke({"request": "order 42"}, thread)
    from langgraph.types import Command

    assert compiled.invoke(Command(resume="ok"), thread)["result"] == "at most 100 EUR"


@pytest.mark.parametrize(
    ("dependencies", "cause"),
    [
        (["./vendor"], "dependency './vendor': no folder"),
        (["no-such-package-here>=1"], "dependency 'no-such-package-here>=1' is not installed"),
        ("./lib", '"dependencies" must be a list'),
    ],
)
def test_a_missing_dependency_is_refused_with_the_file(
    tmp_path: Path, dependencies: object, cause: str
) -> None:
    config = project(tmp_path, {"mailer": "./agents/mailer.py:build"}, dependencies=dependencies)
    with pytest.raises(ConfigError, match=f"LANGGRAPH_CONFIG: {config}: .*{cause}"):
        load(config)


def test_an_installed_package_dependency_is_accepted_not_installed(tmp_path: Path) -> None:
    config = project(
        tmp_path, {"mailer": "./agents/mailer.py:build"}, dependencies=[".", "langgraph>=1"]
    )
    assert list(load(config)) == ["mailer"]


def test_the_env_file_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    config = project(tmp_path, {"mailer": "./agents/mailer.py:build"}, env=".env")
    write(tmp_path, ".env", "OPENAI_MODEL=from-file\nEMAIL_FROM=agent@example.com\n")
    environ = {"LANGGRAPH_CONFIG": str(config), "OPENAI_MODEL": "from-environment"}
    assert apply_config_env(environ) == {"EMAIL_FROM": "agent@example.com"}
    assert environ["OPENAI_MODEL"] == "from-environment"


def test_env_may_be_a_mapping_and_an_absent_file_is_nothing(tmp_path: Path) -> None:
    config = project(tmp_path, {"mailer": "./agents/mailer.py:build"}, env={"A": 1})
    assert config_env(config) == {"A": "1"}
    config = project(tmp_path, {"mailer": "./agents/mailer.py:build"}, env=".env")
    assert config_env(config) == {}
    config = project(tmp_path, {"mailer": "./agents/mailer.py:build"}, env=42)
    with pytest.raises(ConfigError, match='"env" must be a file name'):
        config_env(config)


def test_a_bad_env_file_names_the_file_and_line(tmp_path: Path) -> None:
    config = project(tmp_path, {"mailer": "./agents/mailer.py:build"}, env=".env")
    write(tmp_path, ".env", "OK=1\nnot a variable\n")
    out = io.StringIO()
    code = try_cli.main(["mailer", "x"], stdout=out, env={"LANGGRAPH_CONFIG": str(config)})
    assert code == 2
    assert f"env file .env ({tmp_path / '.env'}), line 2: expected NAME=value" in out.getvalue()


def test_try_runs_a_module_entry_with_settings_from_the_env_file(tmp_path: Path) -> None:
    config = project(tmp_path, {"mailer": "agents.mailer:build"}, env=".env")
    write(tmp_path, ".env", f"POLICY_FILE={tmp_path / 'policy.yaml'}\n")
    write(tmp_path, "policy.yaml", "graphs:\n  mailer:\n    description: Mail from the file\n")
    env = {"LANGGRAPH_CONFIG": str(config)}
    out = io.StringIO()
    assert try_cli.main(["--help"], stdout=out, env=env) == 0
    assert "mailer  Mail from the file" in out.getvalue()  # POLICY_FILE came from .env
    out = io.StringIO()
    code = try_cli.main(["mailer", "hello"], stdin=io.StringIO("a\n"), stdout=out, env=env)
    assert code == 0, out.getvalue()
    assert "sent: {'type': 'approve'" in out.getvalue()


def test_the_bot_reads_the_env_file_before_its_settings(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1]
    (tmp_path / "graphs").symlink_to(root / "graphs")
    config = json.loads((root / "langgraph.json").read_text())
    (tmp_path / "langgraph.json").write_text(json.dumps({**config, "env": ".env"}))
    write(tmp_path, ".env", "SLACK_SIGNING_SECRET=from-file\nPORT=70000\n")
    environ = {"PATH": os.environ.get("PATH", ""), "SLACK_BOT_TOKEN": "xoxb-1"}
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    # The secret came from the file (else it would be the error); so did the bad port.
    assert done.returncode == 2
    assert done.stderr.strip() == "Configuration error: PORT: 70000 is not a TCP port (1-65535)"
