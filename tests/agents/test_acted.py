"""Whether a step that raised on its answer may have acted (bot.agents.acted), read off real
tracebacks: a tool's own run in the traceback acted; LangChain's per-call gate runs the tool
right after the answer, so with no error to read it may have; an error raised in a library that
talks to a server (by module, not by a name that merely starts alike), or raised from one, came
while talking out. (Whole graphs refusing or not refusing their answers:
tests/agents/test_refused_resume.py.)"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import tool

from bot.agents.acted import TALKING, may_have_run, talked_out

GATE = {"type": "tool_approval", "name": "send", "args": {}}
ASKED = "how many seats?"  # any other question


@tool
def send(to: str) -> str:
    """Send something somewhere."""
    raise RuntimeError(f"could not send to {to}")


def caught(call: Any) -> BaseException:
    try:
        call()
    except BaseException as error:
        return error
    raise AssertionError("nothing was raised")


def raised_in(module: str, error: BaseException) -> BaseException:
    """``error`` raised by code whose module is ``module`` (as if a library had raised it)."""
    scope: dict[str, Any] = {"__name__": module, "error": error}
    exec("def fail():\n    raise error\n", scope)
    return caught(scope["fail"])


def test_a_tool_that_ran_and_raised_acted_whoever_asked():
    error = caught(lambda: send.invoke({"to": "ops"}))
    assert may_have_run(GATE, error)
    assert may_have_run(ASKED, error)


def test_an_error_before_any_tool_ran_acted_nothing():
    error = caught(lambda: int("not a number"))
    assert not may_have_run(GATE, error)
    assert not may_have_run(ASKED, error)


def test_with_no_error_to_read_only_the_per_call_gate_may_have_acted():
    assert may_have_run(GATE, None)  # a LangGraph Server keeps an error's name only
    assert not may_have_run(ASKED, None)
    assert not may_have_run({"type": "something else"}, None)


def test_a_tool_run_the_error_was_raised_from_counts():
    tool_error = caught(lambda: send.invoke({"to": "ops"}))

    def wrap() -> None:
        raise ValueError("the node gave up") from tool_error

    def during() -> None:
        try:
            raise tool_error
        except RuntimeError:
            raise KeyError("while handling it") from None

    assert may_have_run(ASKED, caught(wrap))  # __cause__
    suppressed = caught(during)  # ``from None`` hides the context from the reader, not the chain
    assert suppressed.__context__ is tool_error
    assert may_have_run(ASKED, suppressed)


def test_an_error_raised_in_a_library_that_talks_out_talked_out():
    for module in ("requests", "requests.models", "httpx._client", "smtplib", "psycopg.pq"):
        assert talked_out(raised_in(module, ValueError("not JSON"))), module
    assert set(TALKING) >= {"requests", "httpx", "smtplib", "slack_sdk"}


def test_a_module_whose_name_only_starts_like_one_did_not():
    for module in ("requestsish", "httpx_helpers", "my.requests", "tests.socket_fake"):
        assert not talked_out(raised_in(module, ValueError("not JSON"))), module
    assert not talked_out(caught(lambda: int("x")))


def test_an_error_raised_from_one_that_talked_out_talked_out():
    inner = raised_in("urllib3.connectionpool", ConnectionError("reset"))

    def wrap() -> None:
        raise RuntimeError("the step failed") from inner

    assert talked_out(caught(wrap))


def test_an_error_chain_that_loops_is_read_once():
    first, second = ValueError("a"), ValueError("b")
    first.__context__, second.__context__ = second, first
    assert not talked_out(first)
    assert not may_have_run(ASKED, first)
