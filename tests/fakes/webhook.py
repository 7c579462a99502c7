"""FakeWebhook: an HTTP endpoint on 127.0.0.1 that records every GET and POST it receives.

    with FakeWebhook() as hook:
        env = {"WEBHOOK_ALLOWLIST": hook.base_url, ...}
        ...
        [hit] = hook.wait_for_hits(1)
        assert hit.json == {"event": "deploy"}

Every request is answered with ``status`` (default 200) after ``delay`` seconds (default 0), with
a ``Location: <location>`` header when ``location`` is set (a redirect: set ``status`` to 302);
all may be changed at any time.

``answer_next(502, acted=True)`` scripts the next answers in order: a webhook that does the work
and then fails to say so (``acted=True``), or one that fails before doing anything. Without a
script a request is acted on when its status is below 400. With ``honours_keys`` a request whose
``Idempotency-Key`` was already acted on is not acted on again. ``performed()`` lists the
requests acted on: what the far side really did.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Self

from ._http import BackgroundHttpServer, HttpRequest, HttpResponse, Service


@dataclass(frozen=True)
class Hit:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def json(self) -> Any:
        """The body parsed as JSON; ValueError when it is not JSON."""
        return json.loads(self.body)


class FakeWebhook(Service):
    def __init__(
        self, *, status: int = 200, delay: float = 0.0, honours_keys: bool = False
    ) -> None:
        self.status = status
        self.delay = delay
        self.location: str | None = None
        self.honours_keys = honours_keys
        self._http = BackgroundHttpServer(self._serve)
        self._changed = threading.Condition()
        self._hits: list[Hit] = []
        self._script: list[tuple[int, bool]] = []
        self._performed: list[Hit] = []

    def start(self) -> Self:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    @property
    def base_url(self) -> str:
        """For ``WEBHOOK_ALLOWLIST``."""
        return f"http://127.0.0.1:{self._http.port}"

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    def hits(self, method: str | None = None) -> list[Hit]:
        with self._changed:
            return [h for h in self._hits if method is None or h.method == method]

    def answer_next(self, status: int, *, acted: bool) -> None:
        """Answer the next unscripted request with ``status``, having acted on it or not."""
        with self._changed:
            self._script.append((status, acted))

    def performed(self) -> list[Hit]:
        with self._changed:
            return list(self._performed)

    def wait_for_hits(self, count: int = 1, timeout: float = 10.0) -> list[Hit]:
        """Wait until at least ``count`` requests arrived; returns all of them."""
        with self._changed:
            if self._changed.wait_for(lambda: len(self._hits) >= count, timeout):
                return list(self._hits)
            got = len(self._hits)
        raise AssertionError(f"expected {count} webhook request(s) within {timeout}s, got {got}")

    def _serve(self, request: HttpRequest) -> HttpResponse:
        hit = Hit(request.method, request.path, request.headers, request.body)
        with self._changed:
            self._hits.append(hit)
            status, delay, location = self.status, self.delay, self.location
            acted = status < 400
            if self._script:
                status, acted = self._script.pop(0)
            key = request.headers.get("idempotency-key")
            done_keys = {h.headers.get("idempotency-key") for h in self._performed}
            if acted and not (self.honours_keys and key is not None and key in done_keys):
                self._performed.append(hit)
            self._changed.notify_all()
        if delay:
            time.sleep(delay)
        headers = {"Location": location} if location else None
        return HttpResponse.json({"ok": 200 <= status < 300}, status=status, headers=headers)
