"""The engine's Agents port over the driver (bot.agents.driver.AgentsPort), on a small real graph:
a run started, its pause described and stored, a decision answered from the stored request,
the decision checked against what the request offers, and each invocation's trace kept only
when tracing is on."""

from __future__ import annotations

from bot.agents.driver import AgentsPort
from bot.agents.traces import TraceLinks
from bot.domain.models import Approval, Decision
from bot.domain.review import Stop
from tests.support.tiny_graphs import asking, driver_for, registered, run_of


def test_the_port_starts_describes_and_answers_from_a_stored_request():
    port = AgentsPort(driver_for(registered("ask", asking())))
    run = run_of("ask")
    state = port.start(run)
    [pending] = state.pending
    review = port.describe("ask", pending)
    assert review.proposals[0].choices == ("approve", "edit", "reject")
    payload = port.payload_of(pending)
    approval = Approval(
        "a1", run.thread_id, pending.id, "ask", run.request, run.requester, payload,
        "C0CARDS", "1.1", "pending", 0.0, review=review,
    )  # fmt: skip

    assert port.permits(review, Decision("edit", "U0BOSS"))
    assert not port.permits(review, Decision("respond", "U0BOSS"))
    after = port.answer(run, approval, Decision("approve", "U0BOSS"))

    assert not isinstance(after, Stop)
    assert after.finished and after.values["result"] == "approve by U0BOSS: None"
    assert port.report("ask", after) == "approve by U0BOSS: None"


def test_each_invocations_trace_is_kept_only_when_tracing_is_on():
    kept: list[tuple[str, str]] = []
    traced = AgentsPort(
        driver_for(registered("ask", asking())),
        keep_trace=lambda thread, trace: kept.append((thread, trace)),
        links=TraceLinks(lambda: None),
    )
    traced.start(run_of("ask", "t1"))
    assert [thread for thread, _ in kept] == ["t1"] and kept[0][1]

    quiet = AgentsPort(
        driver_for(registered("ask", asking())),
        keep_trace=lambda thread, trace: kept.append((thread, trace)),
    )
    quiet.start(run_of("ask", "t2"))
    assert len(kept) == 1
