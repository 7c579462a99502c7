"""FakeOpenAI: POST /v1/chat/completions on 127.0.0.1 with scriptable, deterministic answers.

The answer depends on the last ``user`` message of the request (so tests script it through the
Slack command text):

* plain request -> content ``"Draft: " + text`` (verbatim); ``LONG:<n>`` -> exactly n characters;
* ``SLOW:<seconds>`` -> delay; ``FAIL:<status>`` -> that HTTP status with an OpenAI error body;
* a strict schema (``response_format`` json_schema or a function tool with ``strict: true``)
  that breaks OpenAI's strict-mode rules -> HTTP 400 with OpenAI's "Invalid schema for ..."
  error, as the real API answers (see ``strict_schema_problem``); such a request is recorded in
  ``requests`` but does not consume an ``enqueue()``d answer;
* ``response_format`` json_schema/json_object, or ``tools`` with a forced ``tool_choice`` ->
  the JSON object found in the text (first '{' to last '}'), else a minimal object built from
  the requested schema; as JSON content or as a tool call respectively. With
  ``tool_choice="auto"`` a tool is only called when the text contains a JSON object, and never
  right after a ``tool`` message (so agent loops end).

``enqueue()`` overrides the next answers in order, e.g. with several tool calls in one assistant
message (parallel tool calls, ``finish_reason: "tool_calls"``; only the first one when the
request sets ``parallel_tool_calls: false``). ``stream: true`` is answered as SSE.

``hold()`` keeps each model request that arrives from then on unanswered (the model is thinking)
until ``release()``: a test waits on ``wait_until_held`` to know a request is in flight, and on
``wait_for_answers`` to know its answer has been written (or the client had gone away), instead
of sleeping for a while and hoping. Requests that OpenAI refuses outright (no key, a bad body, a
strict schema it rejects) are answered at once, held or not.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Self, TypeVar

from ._http import BackgroundHttpServer, HttpRequest, HttpResponse, Service
from .openai_replies import (
    Json,
    Reply,
    choose_reply,
    completion,
    error_body,
    last_user_text,
    parse_directives,
    stream_chunks,
    strict_schema_refusal,
    tool_calls_of,
)

T = TypeVar("T")
HOLD_AT_MOST = 60.0  # a held request is answered anyway after this long (a test forgot it)


class FakeOpenAI(Service):
    def __init__(self, *, api_key: str | None = None) -> None:
        """``api_key``: when given, only that bearer key is accepted; otherwise any key is."""
        self.api_key = api_key
        self.latency = 0.0
        self._http = BackgroundHttpServer(self._serve)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._requests: list[Json] = []
        self._queue: deque[Reply] = deque()
        self._holding = False
        self._held: list[Json] = []  # bodies of the requests held right now
        self._answers: list[bool] = []  # per answer written: True delivered, False dropped

    def start(self) -> Self:
        self._http.start()
        return self

    def stop(self) -> None:
        self.release()
        self._http.stop()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}/v1"

    @property
    def requests(self) -> list[Json]:
        """Parsed JSON bodies of all chat.completions requests received, oldest first."""
        with self._lock:
            return list(self._requests)

    def wait_for_requests(self, n: int, timeout: float = 10.0) -> list[Json]:
        with self._changed:
            if self._changed.wait_for(lambda: len(self._requests) >= n, timeout):
                return list(self._requests)
            got = len(self._requests)
        raise AssertionError(
            f"expected {n} chat.completions request(s) within {timeout}s, got {got}"
        )

    def enqueue(
        self,
        content: str | None = None,
        *,
        structured: Json | None = None,
        status: int | None = None,
        refusal: str | None = None,
        tool_calls: list[Json] | None = None,
    ) -> list[str]:
        """Answer the next request (in call order) with this instead of the scripted reply.

        ``content``: verbatim content (even for structured requests, e.g. broken JSON);
        ``structured``: the object to return as tool call arguments / JSON content;
        ``status``: an HTTP error with OpenAI's error body; ``refusal``: a model refusal;
        ``tool_calls``: ``[{"name": ..., "arguments": {...}}, ...]``, all in one assistant
        message, in this order (``arguments`` may be a string, sent verbatim; an ``"id"`` may
        be given, else each gets a fresh ``call_...``). ``content`` may go with them.

        Returns the ids of the tool calls the answer will carry (empty without ``tool_calls``).
        """
        if all(v is None for v in (content, structured, status, refusal, tool_calls)):
            raise ValueError("enqueue() needs content, structured, status, refusal or tool_calls")
        if tool_calls is not None and (structured is not None or status is not None):
            raise ValueError("tool_calls go with content only, not structured or status")
        calls = tool_calls_of(tool_calls) if tool_calls is not None else None
        with self._lock:
            self._queue.append(Reply(content, structured, refusal, status, calls))
        return [call.id for call in calls or ()]

    def reset(self) -> None:
        self.release()
        with self._lock:
            self._requests.clear()
            self._queue.clear()
            self._answers.clear()
        self.latency = 0.0

    def set_latency(self, seconds: float) -> None:
        """Think this long before answering each request (a slow model)."""
        self.latency = seconds

    def hold(self) -> None:
        """Keep every model request from now on unanswered until ``release()``."""
        with self._changed:
            self._holding = True

    def release(self) -> None:
        """Answer the requests held now, and hold no more."""
        with self._changed:
            self._holding = False
            self._changed.notify_all()

    @property
    def held(self) -> list[Json]:
        """Bodies of the requests waiting unanswered right now, oldest first."""
        with self._lock:
            return list(self._held)

    def wait_until_held(self, n: int = 1, timeout: float = 10.0) -> list[Json]:
        """Wait until ``n`` requests are held (in flight, unanswered); their bodies."""
        return self._wait(lambda: len(self._held) >= n, lambda: list(self._held), timeout)

    def wait_for_answers(self, n: int, timeout: float = 10.0) -> list[bool]:
        """Wait until ``n`` answers have been written out: for each, oldest first, True when
        the whole answer went to the client, False when the client had gone away."""
        return self._wait(lambda: len(self._answers) >= n, lambda: list(self._answers), timeout)

    def _wait(self, ready: Callable[[], bool], value: Callable[[], T], timeout: float) -> T:
        with self._changed:
            if self._changed.wait_for(ready, timeout):
                return value()
            state = f"held {len(self._held)}, answered {len(self._answers)}"
        raise AssertionError(f"not within {timeout}s ({state}, requests {len(self.requests)})")

    # ---------------------------------------------------------------- HTTP

    def _serve(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST" or request.path.rstrip("/") != "/v1/chat/completions":
            message = f"Invalid URL ({request.method} {request.path})"
            return HttpResponse.json(error_body(404, message), status=404)
        key = request.bearer_token()
        if key is None:
            message = "You didn't provide an API key. Use an Authorization: Bearer header."
            return HttpResponse.json(error_body(401, message), status=401)
        if self.api_key is not None and key != self.api_key:
            message = f"Incorrect API key provided: {key[:3]}***{key[-4:]}."
            return HttpResponse.json(error_body(401, message, code="invalid_api_key"), 401)
        try:
            body = json.loads(request.body)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return HttpResponse.json(error_body(400, "We could not parse the JSON body."), 400)
        if not body.get("messages") or not body.get("model"):
            message = "Missing required parameter: 'messages' or 'model'."
            return HttpResponse.json(error_body(400, message), status=400)
        refusal = strict_schema_refusal(body)  # refused before any model runs
        if refusal is None:
            self._wait_while_held(body)
        time.sleep(self.latency)
        with self._changed:
            self._requests.append(body)
            reply = self._queue.popleft() if self._queue and refusal is None else None
            self._changed.notify_all()
        if refusal is not None:
            response = HttpResponse.json(refusal, status=400)
        else:
            response = self._respond(body, reply)
        response.on_done = self._answered
        return response

    def _wait_while_held(self, body: Json) -> None:
        with self._changed:
            if not self._holding:
                return
            self._held.append(body)
            self._changed.notify_all()
            self._changed.wait_for(lambda: not self._holding, HOLD_AT_MOST)
            self._held = [b for b in self._held if b is not body]
            self._changed.notify_all()

    def _answered(self, delivered: bool) -> None:
        with self._changed:
            self._answers.append(delivered)
            self._changed.notify_all()

    def _respond(self, body: Json, queued: Reply | None) -> HttpResponse:
        slow = parse_directives(last_user_text(body)).slow  # applies to queued replies too
        if slow:
            time.sleep(slow)
        reply = queued or choose_reply(body)
        if reply.status is not None:
            return HttpResponse.json(error_body(reply.status), status=reply.status)
        result = completion(body, reply)
        if not body.get("stream"):
            return HttpResponse.json(result)
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        headers = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}
        return HttpResponse(200, _sse(stream_chunks(result, include_usage)), headers)


def _sse(chunks: list[Json]) -> Iterator[bytes]:
    for chunk in chunks:
        yield f"data: {json.dumps(chunk)}\n\n".encode()
    yield b"data: [DONE]\n\n"
