"""What a decision means to LangGraph (bot.agents.driver.Driver) and the engine's Agents port
over it (bot.agents.driver.AgentsPort), driving small real graphs in this process on an
in-memory checkpointer: the request goes in under the graph's input key, a decision goes back
as its adapter's resume value (by interrupt id) or the graph's own ``resume`` settings, an
edit's values reach the graph, a reject at a breakpoint ends the run there, and
``breakpoints: skip`` asks nobody."""

from __future__ import annotations

import pytest

from bot.agents.driver import AgentsPort, Driver
from bot.agents.graph_settings import GraphSettings
from bot.domain.models import Decision
from bot.domain.review import Stop
from tests.support.tiny_graphs import asking, driver_for, registered, stepping


@pytest.fixture
def driver() -> Driver:
    return driver_for(
        registered("ask", asking()),
        registered("steps", stepping()),
        registered("skips", stepping(), GraphSettings(breakpoints="skip")),
        registered("told", asking(), GraphSettings(output="result")),
        registered(
            "own", asking(), GraphSettings(resume={"approve": {"type": "yes", "by": "settings"}})
        ),
    )


def test_a_run_starts_with_the_request_and_who_asked_and_waits_on_its_interrupt(driver):
    state = driver.start("ask", "t1", "Quarterly numbers", "U0ASKER", "C0ASK")

    assert state.started and not state.finished
    [pending] = state.interrupts
    assert pending.value == {"to": "team", "subject": "Quarterly numbers"}
    assert pending.node == "ask"
    assert state.values == {"request": "Quarterly numbers", "requester": "U0ASKER"}
    assert state.waiting_on(pending.id)


def test_an_approval_resumes_that_interrupt_with_the_documented_value(driver):
    state = driver.start("ask", "t1", "Quarterly numbers", "U0ASKER", "C0ASK")
    [pending] = state.interrupts
    review = AgentsPort(driver).describe("ask", pending)

    after = driver.answer("ask", "t1", pending, review, Decision("approve", "U0BOSS"))

    assert after.finished and after.interrupts == ()
    assert after.values["result"] == "approve by U0BOSS: None"


def test_an_edit_sends_the_reviewers_values(driver):
    state = driver.start("ask", "t1", "Quarterly numbers", "U0ASKER", "C0ASK")
    [pending] = state.interrupts
    review = AgentsPort(driver).describe("ask", pending)
    edit = Decision("edit", "U0BOSS", parameters={"to": "board", "subject": "Q3"})

    after = driver.answer("ask", "t1", pending, review, edit)

    assert after.values["result"] == "edit by U0BOSS: {'to': 'board', 'subject': 'Q3'}"


def test_threads_are_apart(driver):
    one = driver.start("ask", "t1", "one", "U1", "C1")
    two = driver.start("ask", "t2", "two", "U2", "C2")
    review = AgentsPort(driver).describe("ask", one.interrupts[0])
    driver.answer("ask", "t1", one.interrupts[0], review, Decision("approve", "U0BOSS"))
    assert driver.runner.state("ask", "t2").waiting_on(two.interrupts[0].id)
    assert driver.runner.state("ask", "t1").finished


def test_a_static_breakpoint_waits_for_a_person_then_continues(driver):
    state = driver.start("steps", "t1", "go", "U1", "C1")
    assert state.interrupts == () and state.breakpoint is not None
    assert (state.breakpoint.node, state.breakpoint.breakpoint) == ("second", "before")
    review = AgentsPort(driver).describe("steps", state.breakpoint)

    after = driver.answer("steps", "t1", state.breakpoint, review, Decision("approve", "U0BOSS"))

    assert after.finished and after.values["result"] == "first, second"


def test_a_reject_at_a_breakpoint_stops_the_run_there(driver):
    state = driver.start("steps", "t1", "go", "U1", "C1")
    review = AgentsPort(driver).describe("steps", state.breakpoint)

    stop = driver.answer("steps", "t1", state.breakpoint, review, Decision("reject", "U0BOSS"))

    assert isinstance(stop, Stop)
    assert "`second`" in stop.report and "nothing more was run" in stop.report
    still = driver.runner.state("steps", "t1")
    assert still.values["result"] == "first" and not still.finished


def test_a_graphs_resume_settings_are_what_it_is_resumed_with(driver):
    state = driver.start("own", "t1", "go", "U1", "C1")
    review = AgentsPort(driver).describe("own", state.interrupts[0])
    after = driver.answer("own", "t1", state.interrupts[0], review, Decision("approve", "U0B"))
    assert after.values["result"] == "yes by settings: None"


def test_breakpoints_set_to_skip_ask_nobody(driver):
    state = driver.start("skips", "t1", "go", "U1", "C1")
    assert state.finished and state.breakpoint is None
    assert state.values["result"] == "first, second"


def test_the_report_is_the_graphs_output_key_when_set(driver):
    state = driver.start("told", "t1", "Quarterly numbers", "U0ASKER", "C0ASK")
    review = AgentsPort(driver).describe("told", state.interrupts[0])
    done = driver.answer("told", "t1", state.interrupts[0], review, Decision("reject", "U0B"))
    assert driver.report("told", done) == "reject by U0B: None"
