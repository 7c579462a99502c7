"""Bodies are bounded before they are read (bot/http/bodies.py), at every door that reads one; only
requests Slack signed count as "being answered" for acks first (bot/runtime/worker.py).

Driven at the ASGI level with a ``receive`` that makes its chunks on demand and counts what was
taken, so "refused without reading it" is measured, not assumed."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from starlette.requests import Request

from bot.http import api_bodies
from bot.http import asgi as server
from bot.http import langgraph_webhook as webhook
from bot.http.api_bodies import Invalid, read_body
from bot.http.health import Health
from bot.runtime.metrics import Metrics
from bot.runtime.worker import AckFirst
from tests.support import slack_requests as sr

CHUNK = 64 * 1024
TWO_GB = 2 * 1024**3


class Source:
    """An ASGI ``receive`` offering ``total`` bytes in chunks, counting what was taken."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.taken = 0

    async def __call__(self) -> dict[str, Any]:
        size = min(CHUNK, self.total - self.taken)
        self.taken += size
        return {"type": "http.request", "body": b"x" * size, "more_body": self.taken < self.total}


def scope(path: str, headers: dict[str, str], query: str = "") -> dict[str, Any]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "http_version": "1.1",
        "scheme": "http",
        "server": ("test", 80),
        "client": ("test", 1),
        "root_path": "",
    }


def call(asgi: Any, path: str, source: Source, headers: dict[str, str], query: str = "") -> int:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(asgi(scope(path, headers, query), source, send))
    return int(sent[0]["status"])


class CountingAcks(AckFirst):
    def __init__(self) -> None:
        super().__init__()
        self.entered = 0

    @contextmanager
    def answering(self) -> Iterator[None]:
        self.entered += 1
        with super().answering():
            yield


class NoDatabase:
    def fetch_one_quick(self, sql: str, params: Any = None) -> Any:
        raise AssertionError("a request queried the database")


@pytest.fixture
def slack_asgi() -> tuple[Any, CountingAcks]:
    def authorize(**_: Any) -> AuthorizeResult:  # no Slack to ask: this app only acks
        return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token="xoxb-test")

    app = App(signing_secret=sr.SIGNING_SECRET, authorize=authorize)
    app.command("/agent")(lambda ack: ack("ok"))
    acks = CountingAcks()
    health = Health(NoDatabase(), tick_every=1)  # type: ignore[arg-type]
    return server.create_asgi(app, sr.SIGNING_SECRET, health, Metrics(), acks=acks), acks


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_a_two_gigabyte_slack_post_is_refused_having_read_at_most_the_cap(slack_asgi, declared):
    asgi, acks = slack_asgi
    source = Source(TWO_GB)
    headers = {"content-length": str(TWO_GB)} if declared else {}
    assert call(asgi, "/slack/events", source, headers) == 413
    assert source.taken == 0 if declared else source.taken <= server.MAX_BODY + CHUNK
    assert acks.entered == 0


def test_only_signed_slack_requests_count_as_being_answered(slack_asgi):
    asgi, acks = slack_asgi
    body = sr.command_body("hello")
    unsigned = Source(len(body))
    unsigned_status = call(asgi, "/slack/events", unsigned, {"content-length": str(len(body))})
    assert (unsigned_status, acks.entered) == (401, 0)

    class Body(Source):
        async def __call__(self) -> dict[str, Any]:
            self.taken = self.total
            return {"type": "http.request", "body": body, "more_body": False}

    headers = {k.lower(): v for k, v in sr.sign(body).items()}
    headers["content-length"] = str(len(body))
    assert call(asgi, "/slack/events", Body(len(body)), headers) == 200
    assert acks.entered == 1


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_the_langgraph_webhook_reads_at_most_its_cap(declared):
    key = webhook.webhook_key("xoxb-test")
    route = webhook.webhook_route(key, lambda _: None)
    query = f"thread=t1&sig={webhook.signature(key, 't1')}"
    source = Source(TWO_GB)
    headers = {"content-length": str(TWO_GB)} if declared else {}
    assert call(route.app, webhook.PATH, source, headers, query) == 413
    assert source.taken <= webhook.MAX_BODY + CHUNK


@pytest.mark.parametrize("declared", [True, False], ids=["content-length", "chunked"])
def test_the_api_refuses_a_body_over_its_limit_before_reading_it(declared):
    source = Source(TWO_GB)
    headers = {"content-length": str(TWO_GB)} if declared else {}
    request = Request(scope("/api/runs", headers), source)
    with pytest.raises(Invalid) as refused:
        asyncio.run(read_body(request))
    assert refused.value.field == "body"
    assert str(refused.value) == f"the body is over {api_bodies.MAX_BODY} bytes"
    assert source.taken <= api_bodies.MAX_BODY + CHUNK


NESTED = b"[" * 90_000  # under every cap; json.loads gives up with a RecursionError


def test_a_body_nested_too_deep_for_the_parser_is_refused_as_not_an_object():
    class Body(Source):
        async def __call__(self) -> dict[str, Any]:
            self.taken = self.total
            return {"type": "http.request", "body": NESTED, "more_body": False}

    request = Request(scope("/api/runs", {"content-length": str(len(NESTED))}), Body(len(NESTED)))
    with pytest.raises(Invalid) as refused:
        asyncio.run(read_body(request))
    assert (refused.value.field, str(refused.value)) == ("body", "the body must be a JSON object")


def test_the_langgraph_webhook_answers_a_body_nested_too_deep_with_a_400():
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    key = webhook.webhook_key("xoxb-test")
    settled: list[str] = []
    app = Starlette(routes=[webhook.webhook_route(key, settled.append)])
    url = f"{webhook.PATH}?thread=t1&sig={webhook.signature(key, 't1')}"
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(url, content=NESTED)
    assert answer.status_code == 400 and settled == []


@pytest.mark.parametrize("sig", ["%C3%A9", "x" * 64, ""])
def test_the_langgraph_webhook_answers_a_wrong_signature_with_a_401_whatever_its_characters(sig):
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    key = webhook.webhook_key("xoxb-test")
    settled: list[str] = []
    app = Starlette(routes=[webhook.webhook_route(key, settled.append)])
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.post(f"{webhook.PATH}?thread=t1&sig={sig}", json={})
    assert answer.status_code == 401 and settled == []


def test_the_api_looks_for_unstorable_text_however_deep_a_body_nests():
    body: Any = "x\x00"
    for _ in range(10_000):  # deeper than Python's recursion limit
        body = [body]
    with pytest.raises(Invalid) as refused:
        api_bodies._text_only({"values": body}, "body")
    assert refused.value.field == "values"
