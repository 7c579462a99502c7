"""Helpers for tests that break things for real: a PostgreSQL server of the test's own that it
may stop and start, a process killed at a chosen line (:func:`killed_after`), and a look at
what a bot left half done in its database."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bot.store.db import open_database
from tests.support.botproc import free_port


def _postgres_bin() -> Path | None:
    """The directory of the installed server's ``initdb`` and ``pg_ctl`` (newest version)."""
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(candidates[-1]).parent if candidates else None


class PrivatePostgres:
    """A real PostgreSQL server in a temporary directory, on its own port.

    Stopping it hurts nobody else: the machine's shared server (and the tests other people run
    against it at the same time) never notice. As root the server runs as ``postgres``, since
    PostgreSQL refuses to run as root.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="pgfault-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._as_postgres = os.geteuid() == 0
        if self._as_postgres:
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str, timeout: float = 60) -> None:
        command = [str(self.bindir / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if result.returncode != 0:
            raise RuntimeError(
                f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout}\n"
                f"{result.stderr}\n{self.log()}"
            )

    def log(self) -> str:
        try:
            return self.logfile.read_text(errors="replace")[-3000:]
        except OSError:
            return ""

    def init(self) -> PrivatePostgres:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync", "--no-instructions",
        )  # fmt: skip
        return self

    def start(self, timeout: float = 30) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=100"
        )
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-o", options, "-w",
            "-t", str(int(timeout)), "start",
        )  # fmt: skip
        self.wait_ready(timeout)

    def stop(self, mode: str = "fast") -> None:
        """``fast`` (what ``pg_ctlcluster stop`` does): sessions are cut off, work rolled back."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def accepting(self) -> bool:
        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def wait_ready(self, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not self.accepting():
            if time.monotonic() > deadline:
                raise AssertionError(f"PostgreSQL did not come up:\n{self.log()}")
            time.sleep(0.1)

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            if (self.data / "postmaster.pid").exists():
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextmanager
def private_postgres() -> Iterator[PrivatePostgres]:
    """A started :class:`PrivatePostgres`; skipped where no server is installed (failed in CI)."""
    bindir = _postgres_bin()
    if bindir is None or (os.geteuid() == 0 and shutil.which("runuser") is None):
        message = "PostgreSQL server binaries (initdb, pg_ctl) are not installed"
        if os.environ.get("CI") == "true":
            pytest.fail(message + " (CI requires them)")
        pytest.skip(message)
    server = PrivatePostgres(bindir)
    try:
        server.init().start()
        yield server
    finally:
        server.destroy()


# What a bot left in its database ---------------------------------------------------------------

LEFTOVERS = {
    "open inbox rows": "SELECT id FROM inbox WHERE done_at IS NULL",
    "claimed but unapplied decisions": (
        "SELECT id FROM approvals WHERE status <> 'pending' AND applied_at IS NULL"
    ),
    # ("started" and never finished is an outcome the bot could not know: see effects.py)
    "effects waiting for a retry": "SELECT key FROM effects WHERE status = 'retry'",
    "runs neither done nor waiting for a person": (
        "SELECT thread_id, status FROM runs WHERE status NOT IN ('done', 'waiting')"
    ),
}


def wait_until(ready: Callable[[], bool], what: str, timeout: float, log: Callable[[], str]):
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout}s: {what}\n--- bot log ---\n{log()}")
        time.sleep(0.2)


def leftovers(database_url: str) -> dict[str, list[dict]]:
    """Everything half done: an empty dict when every click, decision, effect and run is
    finished."""
    db = open_database(database_url)
    try:
        found = {name: db.fetch_all(sql) for name, sql in LEFTOVERS.items()}
    finally:
        db.close()
    return {name: rows for name, rows in found.items() if rows}


IN_PROGRESS = {
    "open inbox rows": "SELECT count(*) AS n FROM inbox WHERE done_at IS NULL",
    "claimed but unapplied decisions": (
        "SELECT count(*) AS n FROM approvals WHERE status <> 'pending' AND applied_at IS NULL"
    ),
    "runs under way": "SELECT count(*) AS n FROM runs WHERE status = 'running'",
}


def wait_quiet(database_url: str, timeout: float = 30) -> None:
    """Until the database shows no work under way (no click waiting in the inbox, no claimed
    decision unapplied, no run running): what the bot was doing has finished, so a second
    (wrong) outcome would have shown by then. Runs may end in any state (failed, waiting)."""
    db = open_database(database_url)
    try:
        deadline = time.monotonic() + timeout
        while busy := {k: n for k, sql in IN_PROGRESS.items() if (n := db.fetch_one(sql)["n"])}:
            assert time.monotonic() < deadline, f"still under way after {timeout}s: {busy}"
            time.sleep(0.05)
    finally:
        db.close()


def last_tick(bot) -> float:
    """When the bot's scheduler last ticked, as its /metrics says."""
    for line in bot.http.get("/metrics").text.splitlines():
        if line.startswith("scheduler_last_tick_timestamp_seconds "):
            return float(line.split()[-1])
    return 0.0


def more_ticks(bots, count: int = 2, timeout: float = 30) -> None:
    """Until each bot's scheduler has ticked about ``count`` more times (SCHEDULER_TICK=1)."""
    since = {bot: last_tick(bot) for bot in bots}
    deadline = time.monotonic() + timeout
    while not all(last_tick(b) >= since[b] + count for b in bots):
        assert time.monotonic() < deadline, f"the scheduler did not tick {count} more times"
        time.sleep(0.1)


def effects_with_status(database_url: str, status: str) -> list[dict]:
    db = open_database(database_url)
    try:
        return db.fetch_all(
            "SELECT key, status, result, attempts FROM effects WHERE status = %(s)s", {"s": status}
        )
    finally:
        db.close()


def cards_recorded(database_url: str, approval_ids: list[str], timeout: float = 20) -> None:
    """Until the bot has stored every posted card's ts (see test_exactly_once)."""
    db = open_database(database_url)
    try:
        deadline = time.monotonic() + timeout
        missing = list(approval_ids)
        while missing and time.monotonic() < deadline:
            rows = db.fetch_all("SELECT id FROM approvals WHERE ts IS NOT NULL")
            have = {r["id"] for r in rows}
            missing = [a for a in approval_ids if a not in have]
            if missing:
                time.sleep(0.05)
        assert not missing, f"the bot never stored the ts of the cards of {missing}"
    finally:
        db.close()


class Killed(BaseException):
    """The process died here: nothing in the bot stops it (no ``except Exception`` does), as
    nothing stops a ``kill -9``."""


def killed_after(
    monkeypatch: pytest.MonkeyPatch,
    target: object,
    name: str,
    when: Callable[[Any], bool] = lambda result: True,
) -> None:
    """``target.name`` does its work (and commits it), then the process dies there, when
    ``when`` says so of what it returned. ``monkeypatch.undo()`` before the next bot starts."""
    real = getattr(target, name)

    def then_die(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        if when(result):
            raise Killed()
        return result

    monkeypatch.setattr(target, name, then_die)
