"""A real LangGraph API server (``langgraph dev --no-reload``, langgraph-cli[inmem]) serving the
project's own ``langgraph.json``, for the bot to run its graphs on.

Each server gets a folder of its own (the in-memory server keeps its state in ``.langgraph_api``
under its working directory) holding a link to the project's ``graphs/`` and a copy of its
``langgraph.json`` with one addition: the bot's webhook is on 127.0.0.1 here, and the server
refuses loopback webhook URLs unless its config allows them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.botproc import ROOT, free_port

ALLOW_LOOPBACK = {"url": {"disable_loopback": False, "require_https": False}}


class LangGraphServer:
    def __init__(self, env: dict[str, str], workdir: Path, project: Path = ROOT) -> None:
        """``env``: what the graphs need (the fake Slack and OpenAI, ``DATABASE_URL``);
        ``project``: the folder whose ``graphs/`` and ``langgraph.json`` are served."""
        self.project = project
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir
        self.env = {
            **os.environ,
            **env,
            "LANGGRAPH_CLI_NO_ANALYTICS": "1",
            "LANGSMITH_TRACING": "false",
        }
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> LangGraphServer:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not (self.workdir / "graphs").exists():
            (self.workdir / "graphs").symlink_to(self.project / "graphs")
        config = json.loads((self.project / "langgraph.json").read_text())
        config["webhooks"] = ALLOW_LOOPBACK
        (self.workdir / "langgraph.json").write_text(json.dumps(config, indent=2))
        command = [
            str(Path(sys.executable).with_name("langgraph")),
            "dev",
            "--no-reload",
            "--no-browser",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--n-jobs-per-worker",
            "4",
        ]
        log = open(self.workdir / "server.log", "ab")  # noqa: SIM115 - closed with the process
        self.proc = subprocess.Popen(
            command, cwd=self.workdir, env=self.env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"langgraph dev exited {self.proc.returncode}:\n{self.log()}")
            if self.answers():
                return self
            time.sleep(0.2)
        raise AssertionError(f"langgraph dev did not answer within {timeout}s:\n{self.log()}")

    def answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ok", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def log(self) -> str:
        return (self.workdir / "server.log").read_text(errors="replace")[-6000:]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def serve_graph(project: Path, name: str, source: str) -> LangGraphServer:
    """A server, started, for one graph a test wrote: ``source`` (its factory ``build``), served
    as ``name`` from the folder ``project``."""
    (project / "graphs").mkdir()
    (project / "graphs" / f"{name}.py").write_text(source)
    graphs = {name: f"./graphs/{name}.py:build"}
    (project / "langgraph.json").write_text(json.dumps({"dependencies": ["."], "graphs": graphs}))
    return LangGraphServer({}, project / "server", project).start()
