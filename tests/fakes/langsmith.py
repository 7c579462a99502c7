"""FakeLangSmith: the parts of LangSmith's API that LangChain's tracer and the bot's trace links
use, on 127.0.0.1, recording every run it is sent.

    with FakeLangSmith() as smith:
        env = {"LANGSMITH_TRACING": "true", "LANGSMITH_ENDPOINT": smith.url,
               "LANGSMITH_API_KEY": smith.api_key}
        ...
        run = smith.wait_for_run(lambda r: r.get("id") == trace_id)

As strict as the service where it matters here: a request without the API key in ``x-api-key``
is a 401; runs come as ``multipart/form-data`` (``/runs/multipart``, each part named
``post.<id>`` or ``patch.<id>``, with ``.inputs``/``.outputs``/``.extra``… parts for the big
fields) or as JSON (``/runs/batch``); a run must carry an ``id`` and a ``trace_id``. A project is
found by name (``GET /sessions?name=``) once it exists: ``default`` always does, another once a
run was sent to it.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Self

from ._http import BackgroundHttpServer, HttpRequest, HttpResponse, Service

Run = dict[str, Any]


class FakeLangSmith(Service):
    def __init__(self) -> None:
        self.api_key = "lsv2_pt_" + uuid.uuid4().hex
        self.tenant_id = str(uuid.uuid4())
        self._projects: dict[str, str] = {"default": str(uuid.uuid4())}
        self._runs: dict[str, Run] = {}
        self._requests: list[str] = []  # "METHOD /path" of every request, authorised or not
        self._changed = threading.Condition()
        self._http = BackgroundHttpServer(self._serve)

    def start(self) -> Self:
        self._http.start()
        return self

    def stop(self) -> None:
        self._http.stop()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._http.port}"

    def project_id(self, name: str = "default") -> str:
        return self._projects[name]

    # what it was sent ------------------------------------------------------------------
    def requests(self) -> list[str]:
        with self._changed:
            return list(self._requests)

    def runs(self) -> list[Run]:
        with self._changed:
            return [dict(r) for r in self._runs.values()]

    def roots(self) -> list[Run]:
        """Runs that start a trace (LangGraph's invocations)."""
        return [r for r in self.runs() if not r.get("parent_run_id")]

    def wait_for_run(self, match: Callable[[Run], bool], timeout: float = 15.0) -> Run:
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                found = [r for r in self._runs.values() if match(r)]
                if found:
                    return dict(found[0])
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"no such run within {timeout}s; got {len(self._runs)} runs: "
                        f"{[(r.get('name'), _metadata(r)) for r in self._runs.values()]}"
                    )
                self._changed.wait(left)

    # serving ---------------------------------------------------------------------------
    def _serve(self, request: HttpRequest) -> HttpResponse:
        with self._changed:
            self._requests.append(f"{request.method} {request.path}")
        if request.header("x-api-key") != self.api_key:
            return HttpResponse.json({"detail": "Invalid token"}, 401)
        if request.method == "GET" and request.path == "/info":
            return HttpResponse.json({"version": "0.10.0"})
        if request.method == "GET" and request.path == "/sessions":
            return self._sessions(request.query)
        if request.method == "POST" and request.path == "/runs/multipart":
            return self._take(_multipart(request))
        if request.method == "POST" and request.path == "/runs/batch":
            body = json.loads(request.body)
            ops = [("post", r) for r in body.get("post", [])]
            return self._take(ops + [("patch", r) for r in body.get("patch", [])])
        return HttpResponse.json({"detail": "Not Found"}, 404)

    def _sessions(self, query: dict[str, str]) -> HttpResponse:
        with self._changed:
            names = [query["name"]] if "name" in query else list(self._projects)
            found = [
                {
                    "id": self._projects[n],
                    "name": n,
                    "tenant_id": self.tenant_id,
                    "start_time": "2026-01-01T00:00:00",
                    "reference_dataset_id": None,
                }
                for n in names
                if n in self._projects
            ]
        return HttpResponse.json(found[: int(query.get("limit") or 100)])

    def _take(self, ops: list[tuple[str, Run]]) -> HttpResponse:
        for op, run in ops:
            if "id" not in run or (op == "post" and "trace_id" not in run):
                return HttpResponse.json({"detail": "run without id or trace_id"}, 422)
        with self._changed:
            for op, run in ops:
                stored = self._runs.setdefault(str(run["id"]), {})
                stored.update(run)
                if op == "post":
                    project = run.get("session_name") or "default"
                    self._projects.setdefault(project, str(uuid.uuid4()))
            self._changed.notify_all()
        return HttpResponse.json({}, 202)


def _metadata(run: Run) -> dict[str, Any]:
    return dict((run.get("extra") or {}).get("metadata") or {})


def metadata(run: Run) -> dict[str, Any]:
    """The metadata a run was labelled with (LangSmith keeps it under ``extra``)."""
    return _metadata(run)


def _multipart(request: HttpRequest) -> list[tuple[str, Run]]:
    """The runs of a ``/runs/multipart`` body: ``post.<id>`` / ``patch.<id>`` parts, and the
    parts that carry one field of one of them (``post.<id>.inputs``)."""
    content_type = request.header("content-type") or ""
    if not content_type.startswith("multipart/form-data"):
        raise ValueError(f"not multipart: {content_type!r}")
    head = f"Content-Type: {content_type}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.body)
    runs: dict[tuple[str, str], Run] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition") or ""
        op, _, rest = name.partition(".")
        run_id, _, fieldname = rest.partition(".")
        if op not in ("post", "patch") or not run_id:
            continue  # attachments, feedback
        value = json.loads(part.get_payload(decode=True) or b"null")
        run = runs.setdefault((op, run_id), {"id": run_id})
        if fieldname:
            run[fieldname] = value
        else:
            run.update(value)
    return [(op, run) for (op, _), run in runs.items()]
