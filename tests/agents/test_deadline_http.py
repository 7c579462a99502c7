"""An httpx client whose timeout bounds each request as a whole (bot.agents.deadline_http): an
answer trickled after its headers is cut off at the deadline too, and connections are still
kept alive between requests. (The model's and the LangGraph Server's clients are built on it:
tests/agents/test_toolkit.py, tests/test_server_runner.py.)"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import httpcore
import httpx
import pytest

from bot.agents.deadline_http import deadline_client
from tests.fakes._http import BackgroundHttpServer, HttpResponse
from tests.support.raw_http import read_request


@pytest.fixture
def trickled_body() -> Iterator[str]:
    """Answers at once with headers announcing 100 bytes, then sends one every 0.3 s."""
    listener = socket.create_server(("127.0.0.1", 0))
    stopped = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        with conn:
            read_request(conn)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
            while not stopped.wait(0.3):
                try:
                    conn.sendall(b"x")
                except OSError:
                    return  # the client hung up

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stopped.set()
    listener.close()


def test_a_body_trickled_after_quick_headers_is_cut_off_at_the_deadline(trickled_body):
    with deadline_client(1.0, timeout=5.0) as client:
        began = time.monotonic()
        with pytest.raises(httpx.ReadTimeout, match="no answer within 1 s"):
            client.get(trickled_body + "/slow")
        took = time.monotonic() - began
    assert 1.0 <= took < 3.0  # bounded: the peer holds it far longer


def test_requests_within_their_deadline_share_one_kept_alive_connection():
    server = BackgroundHttpServer(lambda request: HttpResponse.json({"ok": True}), keep_alive=True)
    server.start()
    try:
        with deadline_client(5.0, base_url=f"http://127.0.0.1:{server.port}") as client:
            answers = [client.get(f"/n/{n}").json() for n in range(3)]
        assert answers == [{"ok": True}] * 3
        assert server.connections_accepted == 1
    finally:
        server.stop()


def test_a_proxy_named_without_a_scheme_is_used_as_httpx_uses_it(monkeypatch):
    # HTTPS_PROXY=proxy.corp:3128 is common: httpx reads it as http://, so the bot's client must.
    for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "proxy.corp.example:3128")
    with deadline_client(5.0, proxied_for="https://api.openai.com/v1") as client:
        pool = client._transport._inner._pool  # type: ignore[attr-defined]
        assert isinstance(pool, httpcore.HTTPProxy)
        assert (pool._proxy_url.host, pool._proxy_url.port) == (b"proxy.corp.example", 3128)
