"""FakeWebhook: an HTTP endpoint on 127.0.0.1 that records every GET and POST it receives.

    with FakeWebhook() as hook:
        env = {"WEBHOOK_ALLOWLIST": hook.base_url, ...}
        ...
        [hit] = hook.wait_for_hits(1)
        assert hit.json == {"event": "deploy"}

Every request is answered with ``status`` (default 200) after ``delay`` seconds (default 0);
both may be changed at any time.
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
    def __init__(self, *, status: int = 200, delay: float = 0.0) -> None:
        self.status = status
        self.delay = delay
        self._http = BackgroundHttpServer(self._serve)
        self._changed = threading.Condition()
        self._hits: list[Hit] = []

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
            self._changed.notify_all()
            status, delay = self.status, self.delay
        if delay:
            time.sleep(delay)
        return HttpResponse.json({"ok": 200 <= status < 300}, status=status)
