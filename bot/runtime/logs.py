"""Logging set-up: plain lines by default, JSON objects with ``LOG_FORMAT=json``; either way each
record made while the bot works on a run carries that run's id (and its request's, if any)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_RUN: ContextVar[str | None] = ContextVar("run", default=None)
_REQUEST: ContextVar[str | None] = ContextVar("request", default=None)
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(where)s: %(message)s"


@contextmanager
def working_on(run: str | None, request: str | None = None) -> Iterator[None]:
    """Tag every log record made inside with the run (LangGraph thread) and request ids."""
    tokens = (_RUN.set(run), _REQUEST.set(request))
    try:
        yield
    finally:
        _RUN.reset(tokens[0])
        _REQUEST.reset(tokens[1])


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        run, request = _RUN.get(), _REQUEST.get()
        record.__dict__.update(run=run, request=request)  # for the JSON format's fields
        parts = [
            f"run={run[:8]}" if run else "",
            f"request={request}" if request else "",
        ]
        shown = " ".join(p for p in parts if p)
        record.where = f" [{shown}]" if shown else ""
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "run": getattr(record, "run", None),
            "request": getattr(record, "request", None),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps({k: v for k, v in entry.items() if v is not None}, ensure_ascii=False)


def configure(level: str, style: str) -> None:
    """``style``: ``text`` or ``json`` (``LOG_FORMAT``)."""
    handler = logging.StreamHandler()
    handler.addFilter(_Context())
    handler.setFormatter(JsonFormatter() if style == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
