"""Logs carry the run they were made for; LOG_FORMAT=json makes one JSON object a line."""

from __future__ import annotations

import json
import logging

import pytest

from bot.runtime import logs


@pytest.fixture(autouse=True)
def _keep_root_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def _handler(style: str) -> logging.Handler:
    logs.configure("INFO", style)
    return logging.getLogger().handlers[0]


def test_json_logs_carry_the_run_and_request_ids():
    handler = _handler("json")
    log = logging.getLogger("bot.test")
    with logs.working_on("0123456789abcdef", "a1b2"):
        record = log.makeRecord("bot.test", logging.WARNING, __file__, 1, "card %s", ("x",), None)
        handler.filter(record)
        line = handler.format(record)
    entry = json.loads(line)
    assert entry["message"] == "card x" and entry["level"] == "WARNING"
    assert entry["run"] == "0123456789abcdef" and entry["request"] == "a1b2"
    outside = log.makeRecord("bot.test", logging.INFO, __file__, 1, "idle", (), None)
    handler.filter(outside)
    assert "run" not in json.loads(handler.format(outside))


def test_text_logs_name_the_run_briefly():
    handler = _handler("text")
    with logs.working_on("0123456789abcdef"):
        record = logging.getLogger("x").makeRecord("x", logging.INFO, __file__, 1, "hi", (), None)
        handler.filter(record)
    assert handler.format(record).endswith("INFO x [run=01234567]: hi")
