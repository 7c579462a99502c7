"""Starting ``python -m bot`` for a test without paying for its imports each time.

A bot process spends most of its start (about 1.5 of 2 s here) importing LangGraph, LangChain,
the OpenAI client, Bolt and uvicorn. A scenario test starts one or more; the crash test eleven.
So each test worker keeps one *prefork server*: a process that imported those modules once and
then, for each bot a test starts, forks a child that runs ``bot.__main__`` exactly as
``python -m bot`` does (``runpy``, ``__name__ == "__main__"``), in its own process, with the test's
environment, working directory and log file. Signals, ``kill -9``, exit codes, the bot's own
shutdown and the interpreter's end are those of a real process; only the imports are shared.

What a fork would otherwise carry over is reset in the child: the environment is replaced
whole, ``functools.lru_cache`` results computed while importing are dropped (libraries cache
environment look-ups), ``random`` is reseeded, and the server's own pipes are closed. The server
is single-threaded (it forks, so it must be): it reads requests and reaps children in one loop
and reports each child's exit status, which a :class:`PreforkedProcess` turns into the
``subprocess.Popen`` interface the tests use.

``BOT_TESTS_PREFORK=0`` starts every bot with ``subprocess.Popen`` instead.

:func:`run_bot` runs a command of the bot to its end the same way (``python -m bot try …``, a
start-up that stops on a configuration error), with its standard input, output and error kept
apart as ``subprocess.run`` keeps them.

The protocol, one JSON object a line: a request ``{"env", "cwd", "log"}`` (and, optionally,
``"err"``, a file for standard error apart from ``log``; ``"stdin"``, a file to read standard
input from; ``"argv"``, the arguments after ``python -m bot``) on the server's stdin is
answered ``{"pid"}`` (or ``{"error"}``) on its stdout; every child's end is told as
``{"exited", "code"}``, ``code`` as ``Popen.returncode`` gives it (minus the signal's number
when a signal ended it).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import gc
import json
import os
import random
import select
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
# What ``python -m bot`` imports before it serves (bot/__main__.py imports lazily, so naming the
# modules here is what makes the child's start cheap). The shipped graphs are left out: tests
# load graphs of their own under those names.
PRELOAD = (
    "bot.cli.main",  # not bot.__main__ itself: runpy warns when the module it runs is loaded
    "bot.wiring",
    "bot.http.asgi",
    "bot.runtime.logs",
    "bot.runtime.refresher",
    "bot.runtime.ticking",
    "bot.agents.langgraph_json",
    "langchain_openai",
    "slack_bolt.adapter.socket_mode",
    "uvicorn",
    "uvicorn.loops.auto",
    "uvicorn.protocols.http.auto",
    "uvicorn.lifespan.on",
)


def enabled() -> bool:
    return os.environ.get("BOT_TESTS_PREFORK", "1") != "0"


# ------------------------------------------------------------------ the server (its own process)


def _serve() -> dict[str, Any] | None:
    """Fork a child per request until stdin closes; returns the request in each child, with
    the ``lru_cache``s the imports made under ``"caches"``."""
    for name in PRELOAD:
        __import__(name)
    caches = [c for c in gc.get_objects() if isinstance(c, functools._lru_cache_wrapper)]
    if threading.active_count() != 1:  # forking a process with threads is not safe
        raise RuntimeError(f"prefork: importing started threads: {threading.enumerate()}")
    # What the imports made goes to the collector's permanent generation: a child's collections
    # and its exit no longer walk (and so copy, page by page) the whole inherited heap. Without
    # it each child spent about 1.1 s of CPU on that, more than a plain `python -m bot` that
    # stops at a bad setting; with it, 0.15 s (measured here).
    gc.freeze()
    _send({"ready": True})
    pending = b""
    children: set[int] = set()
    while True:
        readable, _, _ = select.select([0], [], [], 0.02)
        _reap(children)
        if not readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return None  # the test worker has gone
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            try:
                files = _open_files(request)
            except OSError as problem:
                _send({"error": str(problem)})
                continue
            pid = os.fork()
            if pid == 0:
                request["fds"], request["caches"] = files, caches
                return request
            for fd in files:
                os.close(fd)
            children.add(pid)
            _send({"pid": pid})


def _open_files(request: dict[str, Any]) -> tuple[int, int, int]:
    """The child's standard input, output and error."""
    opened: list[int] = []
    try:
        opened.append(os.open(request.get("stdin") or os.devnull, os.O_RDONLY))
        err = "err" if request.get("err") else "log"
        for name in ("log", err):
            opened.append(os.open(request[name], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644))
    except OSError:
        for fd in opened:
            os.close(fd)
        raise
    return opened[0], opened[1], opened[2]


def _reap(children: set[int]) -> None:
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
            _send({"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _send(message: dict[str, Any]) -> None:
    data = (json.dumps(message) + "\n").encode()
    while data:
        data = data[os.write(1, data) :]


def _become_the_bot(request: dict[str, Any]) -> None:
    """In the child: the process ``python -m bot`` would be, before ``bot.__main__`` runs."""
    for target, fd in enumerate(request["fds"]):
        os.dup2(fd, target)
        os.close(fd)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    sys.path[0] = request["cwd"]  # as ``python -m`` puts its working directory first
    sys.modules.pop("bot.__main__", None)
    random.seed()
    for cache in request["caches"]:
        cache.cache_clear()
    sys.argv = [str(ROOT / "bot" / "__main__.py"), *request.get("argv", ())]


def main() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the test run, not the server
    request = _serve()
    if request is None:
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    _become_the_bot(request)
    import runpy

    runpy.run_module("bot", run_name="__main__", alter_sys=True)


# ------------------------------------------------------------------ the test worker's side


class PreforkedProcess:
    """A bot forked by the server, with the part of ``subprocess.Popen`` the tests use."""

    def __init__(self, server: _Server, pid: int) -> None:
        self._server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            self.returncode = self._server.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            code = self._server.wait_exit(self.pid, timeout)
            if code is None:
                raise subprocess.TimeoutExpired(["python", "-m", "bot"], timeout or 0)
            self.returncode = code
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class _Server:
    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.prefork"],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self._lock = threading.Lock()
        self._answers: list[dict[str, Any]] = []
        self._codes: dict[int, int] = {}
        self._heard = threading.Condition()  # an answer or a child's end
        self._reader = threading.Thread(target=self._read, name="prefork-reader", daemon=True)
        self._reader.start()
        self._answer(timeout=120)  # {"ready": true}: the imports are done

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            with self._heard:
                if "exited" in message:
                    self._codes[message["exited"]] = message["code"]
                else:
                    self._answers.append(message)
                self._heard.notify_all()
        with self._heard:
            self._answers.append({"error": "the prefork server has exited"})
            self._heard.notify_all()

    def _answer(self, timeout: float) -> dict[str, Any]:
        with self._heard:
            if not self._heard.wait_for(lambda: self._answers, timeout):
                raise RuntimeError("the prefork server did not answer")
            return self._answers.pop(0)

    def spawn(self, env: dict[str, str], cwd: Path, log: Path, **more: Any) -> PreforkedProcess:
        request = json.dumps({"env": env, "cwd": str(cwd), "log": str(log), **more}) + "\n"
        with self._lock:
            assert self.proc.stdin is not None
            self.proc.stdin.write(request.encode())
            self.proc.stdin.flush()
            answer = self._answer(timeout=30)
        if "pid" not in answer:
            raise RuntimeError(f"prefork: {answer.get('error')}")
        return PreforkedProcess(self, answer["pid"])

    def exit_code(self, pid: int) -> int | None:
        with self._heard:
            return self._codes.get(pid)

    def wait_exit(self, pid: int, timeout: float | None) -> int | None:
        with self._heard:
            self._heard.wait_for(lambda: pid in self._codes, timeout)
            return self._codes.get(pid)

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


_server: _Server | None = None
_server_lock = threading.Lock()


def _the_server() -> _Server:
    global _server
    with _server_lock:
        if _server is None or _server.proc.poll() is not None:
            _server = _Server()
            atexit.register(_server.close)
        return _server


def spawn_bot(env: dict[str, str], cwd: Path, log: Path) -> PreforkedProcess:
    """``python -m bot`` with ``env`` (the whole environment), forked from this worker's server."""
    return _the_server().spawn(env, cwd, log)


def run_bot(
    args: list[str], env: dict[str, str], cwd: Path, input: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``python -m bot *args`` with ``env`` (the whole environment) and ``input`` on its standard
    input, to its end: as ``subprocess.run(..., capture_output=True, text=True)`` gives it."""
    command = [sys.executable, "-m", "bot", *args]
    if not enabled():
        return subprocess.run(
            command, input=input, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
        )
    with tempfile.TemporaryDirectory(prefix="bot-run-") as scratch:
        stdin, out, err = (Path(scratch) / name for name in ("stdin", "stdout", "stderr"))
        stdin.write_text(input)
        proc = _the_server().spawn(env, cwd, out, err=str(err), stdin=str(stdin), argv=args)
        try:
            code = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
            raise
        return subprocess.CompletedProcess(command, code, out.read_text(), err.read_text())


if __name__ == "__main__":
    main()
