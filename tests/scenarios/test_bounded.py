"""Floods and huge bodies cost the bot neither memory nor acks, and probes cost it no queries.

Against the real bot: a 2 GB POST to ``/slack/events`` (declared, and chunked with no length) is
refused with a 413 while the process's memory stays flat; a flood of unsigned requests is
answered 401 while signed clicks sent meanwhile are still acked in well under a second;
``/healthz`` and ``/metrics`` answer from snapshots background threads refresh, so they keep
answering at once while a count in the database hangs (with the bot's HTTP app in this process:
tests/inprocess/test_probes.py), and ``/healthz`` turns 503 once a frozen database leaves its
snapshot stale."""

from __future__ import annotations

import os
import select
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from bot.slack.blocks import card as ids
from tests.support.cards import wait_card
from tests.support.faults import private_postgres

TWO_GB = 2 * 1024**3
CHUNK = b"x" * (64 * 1024)
RSS_SLACK_KB = 20_000  # allowed growth: allocator noise, never the body (the cap is 1 MB)


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def offer_huge_post(port: int, declared: bool, timeout: float = 20) -> tuple[bytes, int]:
    """POST up to 2 GB to /slack/events, sending only while the bot reads and stopping as soon
    as it answers; returns (the answer's first bytes, the bytes sent)."""
    head = b"POST /slack/events HTTP/1.1\r\nHost: bot\r\n"
    head += b"Content-Type: application/x-www-form-urlencoded\r\n"
    head += (
        f"Content-Length: {TWO_GB}\r\n".encode() if declared else b"Transfer-Encoding: chunked\r\n"
    )
    frame = CHUNK if declared else b"%x\r\n%s\r\n" % (len(CHUNK), CHUNK)
    sent = 0
    deadline = time.monotonic() + timeout
    with socket.create_connection(("127.0.0.1", port)) as conn:
        conn.sendall(head + b"\r\n")
        conn.setblocking(False)
        while time.monotonic() < deadline:
            readable, writable, _ = select.select([conn], [conn] if sent < TWO_GB else [], [], 1)
            if readable:
                conn.setblocking(True)
                conn.settimeout(5)
                try:
                    return conn.recv(4096), sent
                except ConnectionResetError:
                    return b"", sent
            if writable:
                try:
                    sent += conn.send(frame)
                except (BrokenPipeError, ConnectionResetError):
                    return b"", sent
    raise AssertionError(f"no answer after {sent} bytes")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_two_gigabyte_post_is_refused_with_413_and_memory_stays_flat(start_bot):
    bot = start_bot()
    assert bot.proc is not None
    before = rss_kb(bot.proc.pid)
    for declared in (True, False, False):
        answer, sent = offer_huge_post(bot.port, declared)
        assert answer.startswith(b"HTTP/1.1 413"), (declared, answer[:200], sent)
        # Refused from the header before a byte is read, or once the stream passed 1 MB: what
        # was sent is what sat in the socket buffers, never the 2 GB.
        assert sent < 64 * 1024**2, sent
        print(f"2 GB offered ({'declared' if declared else 'chunked'}): 413 after {sent} bytes")
    grown = rss_kb(bot.proc.pid) - before
    print(f"RSS {before} kB before, grew {grown} kB")
    assert grown < RSS_SLACK_KB, f"RSS grew {grown} kB"
    assert bot.http.get("/healthz").status_code == 200


@pytest.mark.alone  # asserts ack times
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_unsigned_flood_does_not_delay_signed_clicks(start_bot, fake_slack, fake_openai):
    bot = start_bot()
    bot.command("Flood-proof announcement")
    card = wait_card(fake_slack)
    stop = threading.Event()
    statuses: list[int] = []

    def flood() -> None:
        with httpx.Client(base_url=bot.url, timeout=10) as client:
            while not stop.is_set():
                body = b"command=%2Fagent&text=unsigned&user_id=U0EVIL"
                statuses.append(client.post("/slack/events", content=body).status_code)

    flooders = [threading.Thread(target=flood) for _ in range(4)]
    for thread in flooders:
        thread.start()
    acks: list[float] = []
    try:
        flooding = time.monotonic() + 20
        while len(statuses) < 50:  # the flood is under way before the clicks start
            assert time.monotonic() < flooding, f"only {len(statuses)} flood requests"
            time.sleep(0.01)
        began = time.monotonic()
        while time.monotonic() - began < 4 or len(statuses) < 300:
            assert time.monotonic() - began < 20, f"only {len(statuses)} flood requests"
            sent = time.perf_counter()
            assert bot.click(ids.APPROVE, card.approval_id, "U0REQ").status_code == 200
            acks.append(time.perf_counter() - sent)
            time.sleep(0.05)
    finally:
        stop.set()
        for thread in flooders:
            thread.join(10)
    seconds = time.monotonic() - began
    print(
        f"{len(statuses)} unsigned requests in {seconds:.1f}s ({len(statuses) / seconds:.0f}/s);"
        f" {len(acks)} signed clicks, slowest ack {max(acks) * 1000:.0f} ms"
    )
    assert set(statuses) == {401}
    assert max(acks) < 1.0, sorted(acks)[-5:]
    fake_slack.wait_for("chat.postMessage", lambda c: c.params.get("thread_ts") == card.ts)


@pytest.fixture
def postgres_server():
    """A PostgreSQL server of this test's own, so freezing it disturbs no other test."""
    with private_postgres() as server:
        yield server


def server_pids(data: Path) -> list[int]:
    """The postmaster and every process it started (its sessions among them)."""
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == postmaster:
            children.append(int(stat.parent.name))
    return [postmaster, *children]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # unused: see DATABASE_URL
def test_health_is_served_from_the_snapshot_until_a_hung_database_makes_it_stale(
    start_bot, postgres_server
):
    bot = start_bot(DATABASE_URL=postgres_server.url)
    pids = server_pids(postgres_server.data)
    # SIGSTOP: the server neither answers nor refuses, so the background probe hangs on it.
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        frozen = time.monotonic()
        answers: list[tuple[float, int, float]] = []
        while True:
            sent = time.perf_counter()
            health = bot.http.get("/healthz", timeout=1)
            answers.append(
                (time.monotonic() - frozen, health.status_code, time.perf_counter() - sent)
            )
            if health.status_code != 200:
                break
            assert time.monotonic() - frozen < 20, "/healthz never noticed the hung database"
            time.sleep(0.05)
        reason = health.json()["reason"]
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    served = [a for a in answers if a[1] == 200]
    stale_after = answers[-1][0]
    print(
        f"{len(served)} health checks answered 200 from the snapshot, then 503 after "
        f"{stale_after:.1f}s: {reason}; slowest answer {max(a[2] for a in answers) * 1e3:.0f} ms"
    )
    assert health.status_code == 503
    # Which of the two depends on where the probe hangs: on a pooled session's query (then
    # its snapshot goes stale) or waiting for a connection (1.5 s, then "not answering").
    assert reason == "the database is not answering" or reason.startswith(
        "the database has not been checked for"
    ), reason
    assert 1.0 < stale_after < 10.0
    assert max(a[2] for a in answers) < 0.5
    bot.wait_ready(timeout=20)  # the database answers again: so does /healthz
