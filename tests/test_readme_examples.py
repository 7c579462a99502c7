"""The README's examples work as written: its code and configuration blocks are extracted and
run (the refund and mailer examples through ``python -m bot try``, with an Edit that changes
the amount), its ``langgraph.json`` is loaded with the shipped ``policy.yaml``, its commands are
accepted by the command line, and ``manifest.yml`` agrees with the README and the bot's routes.
A block that no longer works as written fails here."""

from __future__ import annotations

import ast
import csv
import io
import json
import os
import re
import shlex
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.cli.parsers import build_parser
from bot.policy.shape import check_shape
from bot.store.audit_log import FIELDS, Audit
from bot.store.db import open_database
from tests.fakes.openai import FakeOpenAI
from tests.support.botproc import free_port

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@dataclass(frozen=True)
class Block:
    lang: str
    text: str
    line: int


def blocks(text: str = README) -> list[Block]:
    found, lines = [], text.splitlines()
    index = 0
    while index < len(lines):
        fence = re.match(r"^( *)```(\w*)\s*$", lines[index])
        if fence:
            indent, lang, start = len(fence.group(1)), fence.group(2), index
            body = []
            index += 1
            while not lines[index].strip().startswith("```"):
                body.append(lines[index][indent:])
                index += 1
            found.append(Block(lang, "\n".join(body) + "\n", start + 1))
        index += 1
    return found


def one(lang: str, marker: str) -> Block:
    [block] = [b for b in blocks() if b.lang == lang and marker in b.text]
    return block


def env(**more: str) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), **more}


def python_m_bot(command: str, cwd: Path, stdin: str, extra: dict[str, str]) -> str:
    """Run a README command line (``VAR=… python -m bot …``) as written; what it printed."""
    words = shlex.split(command.replace("\\\n", " "))
    assignments = dict(w.split("=", 1) for w in words if re.match(r"^[A-Z_]+=", w))
    argv = [w for w in words if not re.match(r"^[A-Z_]+=", w)]
    assert argv[:3] == ["python", "-m", "bot"], command
    done = subprocess.run(
        [sys.executable, *argv[1:]],
        input=stdin,
        cwd=cwd,
        env=env(**assignments, **extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the project as a user holds it, with the README's refund example added."""
    (tmp_path / "graphs").symlink_to(ROOT / "graphs")
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "refund.py").write_text(one("python", "Refund an order").text)
    (tmp_path / "langgraph.json").write_text(one("json", "./agents/refund.py:graph").text)
    (tmp_path / "policy.yaml").write_text(one("yaml", "edit: refund").text)
    return tmp_path


# the refund example ---------------------------------------------------------------------------
def transcript() -> tuple[str, str, str]:
    """The README's ``try refund`` session: the command, the answers typed, what it prints."""
    text = one("console", "python -m bot try refund").text
    command, _, shown = text.partition("\n")
    while command.endswith("\\"):
        more, _, shown = shown.partition("\n")
        command = command + "\n" + more
    answers = re.findall(r"(?:Your choice: |\] > )(.*)$", shown, re.M)
    return command.removeprefix("$ "), "".join(a + "\n" for a in answers), shown


def test_the_refund_example_runs_in_try_exactly_as_the_readme_shows(project: Path) -> None:
    command, answers, shown = transcript()
    assert answers == "e\n40\n"  # the README's session edits the amount to 40
    printed = python_m_bot(command, project, answers, {"USER": "you"})
    assert printed.rstrip() == shown.rstrip()
    assert "Refunded 40.00 EUR" in printed


def test_each_answer_the_readme_lists_gets_the_result_it_should(project: Path) -> None:
    namespace: dict = {}
    exec(compile(one("python", "Refund an order").text, "refund.py", "exec"), namespace)
    answers = [
        ast.literal_eval(ast.unparse(statement.value))
        for statement in ast.parse(one("python", '"by": "scheduler"').text).body
    ]
    state = {"order": "1042", "amount": 25.0}
    results = [namespace["pay"]({**state, "decision": a})["result"] for a in answers]
    assert results == [
        "Refunded 25.00 EUR on order 1042 (approved by U0BOB)",
        "Refunded 40.00 EUR on order 1042 (approved by U0BOB)",
        "No refund for order 1042: not our order",
        "No refund for order 1042: Expired after 4h — rejected automatically",
    ]
    # An edit of the whole value (no `edit: refund`) is refused, never the old amount paid.
    whole = {"type": "edit", "by": "U0BOB", "parameters": {"refund": {"amount": 40.0}}}
    result = namespace["pay"]({**state, "decision": whole})["result"]
    assert result == "No refund for order 1042: the edit did not say an amount"


def test_the_readme_langgraph_json_starts_with_the_shipped_policy(project: Path) -> None:
    (project / "policy.yaml").unlink()
    (project / "policy.yaml").symlink_to(ROOT / "policy.yaml")
    printed = python_m_bot("python -m bot try --help", project, "", {})
    for graph in ("draft", "action", "two_person", "refund"):
        assert f"\n  {graph}  " in printed
    shipped = yaml.safe_load((ROOT / "policy.yaml").read_text())["graphs"]
    readme = yaml.safe_load(one("yaml", "edit: refund").text)["graphs"]
    assert {k: readme[k] for k in shipped} == shipped  # copying the README keeps the shipped rules


# the mailer example (LangChain) --------------------------------------------------------------
def test_the_mailer_example_runs_by_file_and_by_module(project: Path) -> None:
    pytest.importorskip("langchain.agents")
    (project / "agents" / "mailer.py").write_text(one("python", "# agents/mailer.py").text)
    config = json.loads((project / "langgraph.json").read_text())
    assert '"mailer": "./agents/mailer.py:build"' in README
    config["graphs"] |= {"mailer": "./agents/mailer.py:build", "mailer2": "agents.mailer:build"}
    (project / "langgraph.json").write_text(json.dumps(config))
    request = "tell ops@example.com the backup finished"
    assert f"/agent mailer {request}" in README
    with FakeOpenAI() as fake:
        for graph in ("mailer", "mailer2"):
            args = {"to": "ops@example.com", "subject": "Backup", "body": "It finished."}
            fake.enqueue(tool_calls=[{"name": "send_email", "arguments": args}])
            printed = python_m_bot(
                f"python -m bot try {graph} {shlex.quote(request)}",
                project,
                "a\n",
                {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url},
            )
            assert "send_email" in printed and "== Result ==" in printed


def test_the_agents_extra_brings_what_the_mailer_needs() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("langchain>=") for d in project["optional-dependencies"]["agents"])
    assert 'pip install -e ".[agents]"' in README
    assert project["license"] == "Apache-2.0" and (ROOT / "LICENSE").is_file()


# commands ------------------------------------------------------------------------------------
def commands() -> list[str]:
    """Every ``python -m bot …`` line of the README's bash blocks."""
    found = []
    for block in blocks():
        if block.lang != "bash":
            continue
        for line in block.text.replace("\\\n", " ").splitlines():
            match = re.search(r"(?:\.venv/bin/)?python -m bot\b([^#>|]*)", line)
            if match:
                found.append(match.group(1).strip())
    return found


def test_every_bot_command_in_the_readme_is_accepted() -> None:
    found = commands()
    assert "" in found and any(c.startswith("try ") for c in found)
    assert any(c.startswith("audit ") for c in found)
    assert any(c.startswith("prune ") for c in found)
    parser = build_parser()
    for argv in found:
        parser.parse_args(shlex.split(argv) or ["serve"])  # exits (fails) on a bad option


def test_the_audit_export_has_the_fields_the_readme_names(tmp_path: Path) -> None:
    block = one("bash", "python -m bot audit --since 7d --format csv")
    named = re.search(r"# (at, time, .*)$", block.text, re.M)
    assert named and tuple(named.group(1).split(", ")) == FIELDS
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    db = open_database(url)
    Audit(db).record("started", "3f9a1c2e-run", "U0ALICE")
    db.close()
    done = subprocess.run(
        [sys.executable, "-m", "bot", "audit", "--since", "7d", "--format", "csv"],
        env=env(DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert tuple(next(csv.reader(io.StringIO(done.stdout)))) == FIELDS


# configuration -------------------------------------------------------------------------------
def test_every_yaml_block_is_a_policy_file_the_bot_accepts_or_a_shipped_entry() -> None:
    byo = yaml.safe_load((ROOT / "tests" / "byo" / "policy.yaml").read_text())["graphs"]
    for block in blocks():
        if block.lang not in ("yaml", "yml"):
            continue
        data = yaml.safe_load(block.text)
        if set(data) <= {"defaults", "graphs", "actions"}:
            check_shape(data, f"README.md line {block.line}")
        elif block.text.startswith("  "):  # an entry quoted from tests/byo/policy.yaml
            [(name, entry)] = data.items()
            assert byo[name] == entry, f"README.md line {block.line}"
        else:  # API_TOKENS_FILE
            assert all({"token", "user"} <= set(v) for v in data.values()), block.line


def test_every_python_block_compiles() -> None:
    for block in blocks():
        if block.lang == "python" and "…" not in block.text:  # "…" marks a schema, not code
            compile(block.text, f"README.md line {block.line}", "exec")


def test_the_manifest_matches_the_readme_and_the_bots_routes() -> None:
    text = (ROOT / "manifest.yml").read_text()
    manifest = yaml.safe_load(text)
    urls = re.findall(r"https://example\.com\S*", text)
    assert len(urls) == 3 and set(urls) == {"https://example.com/slack/events"}
    assert "three example.com URLs" in text and "three `https://example.com/slack/events`" in README
    assert "socket_mode_enabled: true" in text and "socket_mode_enabled: true" in README
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    listed = re.findall(r"^- `([a-z:.]+)`:", README, re.M)
    assert listed == scopes
    from bot.http.asgi import SLACK_PATH

    assert SLACK_PATH == "/slack/events"


# Each Web API method the bot calls, and the bot scope Slack's method reference asks for
# (chat.getPermalink and views.* need none; auth.test, Bolt's start-up check, neither).
SCOPE_OF = {
    "chat_postMessage": "chat:write",
    "chat_update": "chat:write",
    "chat_postEphemeral": "chat:write",
    "chat_getPermalink": None,
    "conversations_open": "im:write",
    "conversations_members": "channels:read",  # and groups:read, im:read, mpim:read
    "views_open": None,
    "views_publish": None,
    "usergroups_users_list": "usergroups:read",
}


def test_the_manifest_grants_every_web_api_method_the_bot_calls() -> None:
    """A method added to the Slack client without its scope in manifest.yml fails here, before
    a workspace answers ``missing_scope``; the README's "Scopes and why" lists the same."""
    calls = set(
        re.findall(r"\.(?:client|cards)\.(\w+)\(", (ROOT / "bot/slack/client.py").read_text())
    )
    assert calls == set(SCOPE_OF), "map each new method to its scope above"
    scopes = yaml.safe_load((ROOT / "manifest.yml").read_text())["oauth_config"]["scopes"]["bot"]
    needed = {scope for scope in SCOPE_OF.values() if scope} | {"commands"}  # /agent
    needed |= {"chat:write.public", "groups:read", "im:read", "mpim:read"}  # see above
    assert needed == set(scopes)
    events = yaml.safe_load((ROOT / "manifest.yml").read_text())["settings"]["event_subscriptions"]
    from bot.slack.listeners import register

    registered: list[str] = []

    class Recorder:
        def __getattr__(self, kind: str):  # app.command / action / view / event
            def add(name, **_):
                registered.append(f"{kind}:{getattr(name, 'pattern', name)}")
                return lambda listener: listener

            return add

    register(Recorder(), None)  # type: ignore[arg-type]
    assert [r.split(":", 1)[1] for r in registered if r.startswith("event:")] == events[
        "bot_events"
    ]
    assert [r for r in registered if r.startswith("command:")] == ["command:/agent"]
    assert not [
        r for r in registered if r.split(":")[0] not in ("command", "action", "view", "event")
    ]


def test_every_variable_the_bot_reads_is_in_the_readmes_table_and_no_other() -> None:
    read: set[str] = set()
    for path in (ROOT / "bot").rglob("*.py"):
        text = path.read_text()
        read |= set(re.findall(r'\b(?:env|environ)(?:\.get)?[(\[]\s*"([A-Z][A-Z0-9_]+)"', text))
        read |= set(re.findall(r'\((?:env|environ), "([A-Z][A-Z0-9_]+)"', text))
    read |= {"WEBHOOK_ALLOWLIST"}  # webhook_allowlist()'s default name
    # LangSmith's own settings, read under its prefixes (bot.config.values._env); try's $USER.
    read = {f"LANGSMITH_{n}" if n in ("PROJECT", "TRACING") else n for n in read - {"USER"}}
    read -= {"TRACING_V2"}
    section = README.split("## Environment variables")[1].split("### Policy file")[0]
    first_cells = [row.split("|")[1] for row in section.splitlines() if row.startswith("| `")]
    table = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", "\n".join(first_cells)))
    assert read - table == set(), "read by the bot, missing from README: Environment variables"
    assert table - read == {"LANGSMITH_API_KEY", "LANGSMITH_ENDPOINT"}  # LangSmith's tracer's


def test_the_env_file_langgraph_json_names_is_not_committed() -> None:
    """The README invites secrets into langgraph.json's ``env`` file: git must ignore it."""
    env_file = json.loads((ROOT / "langgraph.json").read_text())["env"]
    ignored = subprocess.run(["git", "check-ignore", "-q", env_file], cwd=ROOT)
    assert ignored.returncode == 0, f"{env_file} is not in .gitignore"


def test_the_policy_files_comments_point_at_real_sections_and_actions() -> None:
    text = (ROOT / "policy.yaml").read_text()
    headings = {h.strip() for h in re.findall(r"^#+ (.*)$", README, re.M)}
    header = text.split("\n\n")[0]
    quoted = re.findall(r'"([^"]+)"', header)
    assert len(quoted) == 4
    for section in quoted:
        assert section in headings, section
    from graphs.actions import default_registry
    from graphs.addresses import Allowlist

    actions = set(default_registry(lambda c, t: "", None, "a@b", Allowlist()).specs)
    named = re.findall(r"^#   (\w+):\s*$", text, re.M)  # the examples' actions.<name>
    named += re.findall(r"\b([a-z]+_[a-z_]+)\b", header)  # and the ones the header lists
    assert named and set(named) <= actions, set(named) - actions


def test_a_policy_typo_stops_the_bot_with_the_line_the_readme_shows(tmp_path: Path) -> None:
    command, said = one("console", "actions.send_emial").text.splitlines()
    assert command == "$ python -m bot"
    (tmp_path / "graphs").symlink_to(ROOT / "graphs")
    (tmp_path / "langgraph.json").write_text((ROOT / "langgraph.json").read_text())
    (tmp_path / "policy.yaml").write_text("actions:\n  send_emial:\n    quorum: 1\n")
    settings = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}
    done = subprocess.run(
        [sys.executable, "-m", "bot"],
        cwd=tmp_path,
        env=env(**settings, DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == said


def test_the_two_minute_try_runs_as_written() -> None:
    block = one("bash", "python -m bot try draft")
    [line] = [x for x in block.text.splitlines() if "python -m bot try" in x]
    command = line.replace(".venv/bin/python", "python")
    with FakeOpenAI() as fake:
        extra = {"OPENAI_API_KEY": "sk-test", "OPENAI_BASE_URL": fake.base_url}
        printed = python_m_bot(command, ROOT, "a\n", extra)
    menu = re.search(r"prompt offers `([^`]+)`", README.replace("\n", " "))
    assert menu and " ".join(menu.group(1).split()) in " ".join(printed.split())
    assert "(would post to #try: Draft: Draft an announcement" in printed
    # The sample draft card at the top shows the buttons the draft graph's card has.
    sample = one("", "📝 Draft waiting for approval").text
    [line] = [x for x in sample.splitlines() if x.startswith("[ ")]
    offered = re.findall(r"\[\w+\] (\w+(?: \w+)*)", menu.group(1))
    assert re.findall(r"\[ ([^\]]+) \]", line) == offered


def test_every_link_inside_the_readme_reaches_a_section_or_a_file() -> None:
    def slug(heading: str) -> str:  # as GitHub makes anchors
        return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")

    anchors = {slug(h) for h in re.findall(r"^#+ (.*)$", README, re.M)}
    for target in re.findall(r"\]\(([^)\s]+)\)", README):
        if target.startswith("#"):
            assert target[1:] in anchors, target
        elif not target.startswith(("http://", "https://")):
            assert (ROOT / target).exists(), target


def test_the_readmes_placeholders_pasted_as_written_are_named_not_a_traceback(
    tmp_path: Path,
) -> None:
    """A newcomer who runs the set-up commands before filling in the `…` gets one line naming
    the variable to fill in (before: a UnicodeEncodeError traceback from the first HTTP header
    the placeholder went into, or a run that "failed: UnicodeEncodeError")."""
    starts = [
        line.split(".venv/bin/python")[0].split()
        for block in blocks()
        if block.lang == "bash"
        for line in block.text.splitlines()
        if line.strip().startswith("SLACK_BOT_TOKEN=xoxb-…") and "python -m bot" in line
    ]
    assert len(starts) == 2  # HTTP (step 2) and Socket Mode (step 3)
    for words in starts:
        settings = dict(word.split("=", 1) for word in words)
        done = subprocess.run(
            [sys.executable, "-m", "bot"],
            cwd=ROOT,
            env=env(
                **settings,
                SLACK_API_URL="http://127.0.0.1:9/api/",  # nothing leaves the machine
                DATABASE_URL=f"sqlite:///{tmp_path / 'bot.db'}",
            ),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 2, done.stderr
        assert "Traceback" not in done.stderr
        assert done.stderr.strip().startswith("Configuration error: SLACK_BOT_TOKEN: has char")
    block = one("bash", "python -m bot try draft")
    [key] = re.findall(r"export OPENAI_API_KEY=(\S+)", block.text)
    [line] = [x for x in block.text.splitlines() if "python -m bot try" in x]
    argv = shlex.split(line.replace(".venv/bin/python", "python"))
    done = subprocess.run(
        [sys.executable, *argv[1:]],
        input="a\n",
        cwd=ROOT,
        env=env(OPENAI_API_KEY=key, OPENAI_BASE_URL="http://127.0.0.1:9/v1"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout
    assert "Configuration error: OPENAI_API_KEY: has characters" in done.stdout


def test_try_two_person_stops_as_the_readme_says() -> None:
    said = re.search(r"stops at its first card with \"([^\"]+)\"", README.replace("\n", " "))
    assert said
    with FakeOpenAI() as fake:
        fake.enqueue(content="Lunch is at noon.")
        done = subprocess.run(
            [sys.executable, "-m", "bot", "try", "two_person", "Tell the team lunch is at noon"],
            input="a\na\n",
            cwd=ROOT,  # the shipped policy.yaml, read when POLICY_FILE is unset
            env=env(OPENAI_API_KEY="sk-test", OPENAI_BASE_URL=fake.base_url),
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert said.group(1) in " ".join(done.stdout.split())
    assert "== Result ==" not in done.stdout


def test_the_bot_runs_against_the_fakes_as_the_development_section_shows(tmp_path: Path) -> None:
    start = one("python", "slack, model = FakeSlack().start()").text
    talk = one("python", "slack.wait_socket_connected()").text
    approve = one("python", 'click_payload("approval.approve"').text
    namespace: dict = {}
    printed = io.StringIO()
    from contextlib import redirect_stdout

    with redirect_stdout(printed):
        exec(compile(start, "README start", "exec"), namespace)
    slack, model = namespace["slack"], namespace["model"]
    settings = dict(word.split("=", 1) for word in printed.getvalue().split())
    bot = subprocess.Popen(
        [sys.executable, "-m", "bot"],
        cwd=ROOT,
        env=env(**settings, PORT=str(free_port()), DATABASE_URL=f"sqlite:///{tmp_path / 'b.db'}"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        slack.wait_socket_connected(60)  # a busy machine starts the bot slower than 10 s
        with redirect_stdout(printed):
            exec(compile(talk, "README talk", "exec"), namespace)
        blocks = namespace["card"].params["blocks"]
        assert blocks[0]["text"]["text"] == "📝 Draft waiting for approval"
        assert "Started run" in str(namespace["ack"])
        with redirect_stdout(printed):
            exec(compile(approve, "README approve", "exec"), namespace)
        assert namespace["done"].params["text"].startswith("Approved. Posted to")
        assert "✅ *Approved* by <@U0REQ>" in printed.getvalue()
    finally:
        bot.terminate()
        bot.wait(30)
        slack.stop()
        model.stop()
