"""The LangGraph Server runner's parts: what a thread's state means, what the server's failures
become, the webhook's signature, and the settings (the whole loop: test_langgraph_server.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.agents.langgraph_server import ServerRunner, server_thread, state_of
from bot.agents.runner import InProcessRunner, RunFailed, RunnerBusy, RunnerUnavailable
from bot.agents.server_registry import server_client, server_registry
from bot.config import ConfigError, ServerSettings, load_settings
from bot.http.langgraph_webhook import hook_for, webhook_key, webhook_route
from tests.fakes._http import BackgroundHttpServer, HttpRequest, HttpResponse
from tests.fakes.trickle import TrickleServer
from tests.support.botproc import free_port
from tests.support.bounded import ended_within

THREAD = "0123456789abcdef0123456789abcdef"


def snapshot(**over):
    base = {
        "values": {"request": "hi"},
        "next": [],
        "tasks": [],
        "created_at": "2026-11-22T00:00:00+00:00",
        "checkpoint": {"checkpoint_id": "c1"},
    }
    return {**base, **over}


def task(name: str, *interrupts: dict) -> dict:
    return {"id": "t", "name": name, "interrupts": list(interrupts), "error": None}


# ---------------------------------------------------------------- a thread's state


def test_interrupts_become_pending_requests_with_their_node_and_schema():
    schema = {"type": "object"}
    asked = {"id": "i1", "value": {"kind": "draft"}, "response_schema": schema}
    state = state_of(snapshot(next=["review"], tasks=[task("review", asked)]), "interrupted")
    [pending] = state.pending
    assert (pending.id, pending.node, pending.value) == ("i1", "review", {"kind": "draft"})
    assert pending.response_schema == schema
    assert state.waiting_on("i1") and not state.finished and not state.stuck


def test_an_interrupted_thread_without_interrupts_is_at_a_breakpoint():
    state = state_of(snapshot(next=["send"], tasks=[task("send")]), "interrupted")
    assert state.breakpoint is not None
    assert (state.breakpoint.node, state.breakpoint.breakpoint) == ("send", "before")
    assert state.breakpoint.id == "bp:c1"


def test_an_idle_thread_with_work_left_is_a_run_cut_short_to_continue():
    state = state_of(snapshot(next=["send"], tasks=[task("send")]), "idle")
    assert state.breakpoint is None and state.stuck


def test_a_finished_thread_and_a_thread_never_run():
    assert state_of(snapshot(), "idle").finished
    never = state_of(snapshot(created_at=None, values={}), "idle")
    assert not never.started and not never.finished


def test_a_failed_thread_is_neither_stuck_nor_finished():
    state = state_of(snapshot(next=["send"], tasks=[task("send")]), "error", "ValueError: no")
    assert state.failed == "ValueError: no" and not state.stuck and not state.finished


def test_thread_ids_map_to_uuids_the_same_way_every_time():
    assert server_thread(THREAD) == "01234567-89ab-cdef-0123-456789abcdef"
    assert server_thread("not-a-uuid") == server_thread("not-a-uuid") != "not-a-uuid"


# ---------------------------------------------------------------- the server's failures


@pytest.fixture
def answering() -> Iterator:
    """A server answering every call with the status the test sets (over real HTTP)."""
    status = {"code": 503}

    def app(request: HttpRequest) -> HttpResponse:
        return HttpResponse.json({"detail": "nope"}, status=status["code"])

    server = BackgroundHttpServer(app)
    server.start()
    yield status, f"http://127.0.0.1:{server.port}"
    server.stop()


def runner_at(url: str) -> ServerRunner:
    settings = load_settings(
        {"SLACK_BOT_TOKEN": "xoxb-1", "OPENAI_API_KEY": "k", "LANGGRAPH_API_URL": url},
        for_graphs=True,
    )
    assert settings.langgraph is not None  # named as bot.wiring.server_runner names it
    return ServerRunner(server_client(settings.langgraph), settings.langgraph.shown, poll_every=60)


@pytest.mark.parametrize("code", [500, 502, 503, 429])
def test_a_server_answering_errors_is_unavailable_not_a_failed_run(answering, code):
    status, url = answering
    status["code"] = code
    with pytest.raises(RunnerUnavailable, match=f"answered {code}"):
        runner_at(url).state("draft", THREAD)


def test_a_refused_key_names_the_variable(answering):
    status, url = answering
    status["code"] = 401
    with pytest.raises(RunnerUnavailable, match="LANGGRAPH_API_KEY"):
        runner_at(url).state("draft", THREAD)


def test_a_refused_run_is_a_failure_the_people_hear_of(answering):
    status, url = answering
    status["code"] = 422
    with pytest.raises(RunFailed, match="refused the call \\(422\\)"):
        runner_at(url).proceed("draft", THREAD)


def test_a_run_already_under_way_is_waited_for_not_started_twice(answering):
    status, url = answering
    status["code"] = 409
    runner = runner_at(url)
    state = runner.proceed("draft", THREAD)
    assert state.running and not state.stuck
    runner.close()


def test_a_resume_while_another_run_holds_the_thread_is_busy_not_done(answering):
    """A second decision given while the first one's run is under way: the server refuses it
    (multitask "reject"), and the engine must hear "not yet", never "done"."""
    status, url = answering
    status["code"] = 409
    runner = runner_at(url)
    with pytest.raises(RunnerBusy):
        runner.resume("draft", THREAD, {"i1": "yes"})
    runner.close()


@pytest.mark.parametrize("code", [502, 401, None])
def test_a_proxy_password_in_the_server_url_is_in_nothing_the_runner_says(answering, code):
    # What the runner says is posted to the run's thread ("the server is away") and logged.
    status, url = answering
    if code is None:
        url = f"http://127.0.0.1:{free_port()}"  # nobody listening
    else:
        status["code"] = code
    with pytest.raises(RunnerUnavailable) as away:
        runner_at(url.replace("http://", "http://agents:Pr0xyS3cret@")).state("draft", THREAD)
    assert "Pr0xyS3cret" not in str(away.value) and "agents@" not in str(away.value)
    assert url in str(away.value)


def test_nobody_listening_is_unavailable():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RunnerUnavailable, match="is not answering"):
        runner_at(url).state("draft", THREAD)


def test_a_server_trickling_its_answer_is_unavailable_at_the_clients_deadline():
    """A byte every 0.3 s keeps every socket read inside httpx's timeouts (the answer would take
    18 s); the request as a whole ends at its deadline, and the call says the server is away
    instead of holding the worker (and the run's lease) for as long as the server likes."""
    with TrickleServer(every=0.3) as server:
        settings = ServerSettings(server.base_url, None, None, 60.0)
        runner = ServerRunner(server_client(settings, deadline=1.0), settings.shown)
        took, raised = ended_within(4.0, lambda: runner.state("draft", THREAD))
        assert len(server.hits()) == 1
    assert isinstance(raised, RunnerUnavailable) and "ReadTimeout" in str(raised)
    assert 1.0 <= took < 3.0  # bounded: the peer holds it far longer


def test_graph_names_come_from_langgraph_json_while_the_server_is_away(tmp_path):
    config = tmp_path / "langgraph.json"
    config.write_text('{"graphs": {"draft": "./d.py:build", "mailer": "./m.py:build"}}')
    url = f"http://127.0.0.1:{free_port()}"
    runner = runner_at(url)
    server = ServerSettings(url, None, None, 1.0)
    registry = server_registry(runner.client, server, str(config), {}, wait=0.2)
    assert list(registry) == ["draft", "mailer"]
    assert registry["draft"].input_key == "request" and registry["draft"].graph is None


def test_a_server_that_cannot_describe_its_graphs_stops_start_up(answering, tmp_path):
    status, url = answering
    status["code"] = 400
    server = ServerSettings(url, None, None, 1.0)
    with pytest.raises(ConfigError, match="could not describe its graphs \\(400\\)"):
        server_registry(runner_at(url).client, server, str(tmp_path / "none.json"), {})


# ---------------------------------------------------------------- the webhook


@pytest.fixture
def webhook() -> Iterator:
    heard: list[str] = []
    key = webhook_key("xoxb-1")
    app = Starlette(routes=[webhook_route(key, heard.append)])
    with TestClient(app) as client:
        yield client, hook_for("https://bot.example.com/langgraph/webhook", key), heard


def test_a_signed_webhook_about_its_thread_is_heard(webhook):
    client, hook, heard = webhook
    url = hook(THREAD).removeprefix("https://bot.example.com")
    answer = client.post(url, json={"thread_id": server_thread(THREAD), "status": "success"})
    assert answer.status_code == 202 and heard == [THREAD]


def test_unsigned_forged_or_foreign_webhooks_are_refused(webhook):
    client, hook, heard = webhook
    assert client.post("/langgraph/webhook", json={}).status_code == 401
    forged = f"/langgraph/webhook?thread={THREAD}&sig={'0' * 64}"
    assert client.post(forged, json={}).status_code == 401
    other = hook("another-thread").removeprefix("https://bot.example.com")
    foreign = client.post(other, json={"thread_id": server_thread(THREAD)})
    assert foreign.status_code == 400
    garbled = client.post(hook(THREAD).removeprefix("https://bot.example.com"), content=b"[1")
    assert garbled.status_code == 400
    assert heard == []


# ---------------------------------------------------------------- settings

BASE = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "OPENAI_API_KEY": "k"}


def test_server_settings_default_to_in_process_and_poll_often_without_a_webhook():
    assert load_settings(BASE).langgraph is None
    polled = load_settings({**BASE, "LANGGRAPH_API_URL": "http://lg:2024/"}).langgraph
    assert polled is not None and polled.url == "http://lg:2024" and polled.poll_every == 1
    hooked = load_settings(
        {**BASE, "LANGGRAPH_API_URL": "http://lg", "LANGGRAPH_WEBHOOK_URL": "https://b/x"}
    ).langgraph
    assert hooked is not None and hooked.poll_every == 5 and hooked.webhook_url == "https://b/x"


@pytest.mark.parametrize(
    "env, named",
    [
        ({"LANGGRAPH_API_URL": "lg:2024"}, "LANGGRAPH_API_URL"),
        ({"LANGGRAPH_API_URL": "http://lg", "LANGGRAPH_WEBHOOK_URL": "bot/x"}, "WEBHOOK_URL"),
        ({"LANGGRAPH_API_URL": "http://lg", "LANGGRAPH_POLL_EVERY": "0"}, "POLL_EVERY"),
    ],
)
def test_bad_server_settings_name_the_variable(env, named):
    with pytest.raises(ConfigError, match=named):
        load_settings({**BASE, **env})


def test_an_assistant_whose_graph_is_gone_is_left_out_not_a_start_up_error(tmp_path, caplog):
    """``langgraph dev`` keeps the assistants of a graph removed from langgraph.json and answers
    404 for their schemas: the graphs it still serves are registered, the gone one is not."""
    assistants = [
        {"assistant_id": "a-draft", "graph_id": "draft", "description": None},
        {"assistant_id": "a-refund", "graph_id": "refund", "description": None},
    ]

    def app(request: HttpRequest) -> HttpResponse:
        if request.path == "/assistants/search":
            return HttpResponse.json(assistants)
        if request.path == "/assistants/a-refund/schemas":
            return HttpResponse.json({"detail": "Graph 'refund' not found"}, status=404)
        schema = {"type": "object", "properties": {"request": {"type": "string"}}}
        return HttpResponse.json({"input_schema": schema})

    server = BackgroundHttpServer(app)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        settings = ServerSettings(url, None, None, 1.0)
        with caplog.at_level("WARNING", logger="bot.agents.server_registry"):
            registry = server_registry(runner_at(url).client, settings, str(tmp_path / "x"), {})
    finally:
        server.stop()
    assert list(registry) == ["draft"]
    assert "an assistant for graph 'refund', which it no longer serves" in caplog.text


# Found by an audit (stop 37): a failed run's error read within the deadline; a run
# stopped on the server, or an Edit whose continue did not reach it, is not a breakpoint.
THREAD = "0123456789abcdef0123456789abcdef"
REMOTE = server_thread(THREAD)


def test_reading_why_a_run_failed_ends_at_the_clients_deadline():
    """A thread in "error". state() asked runs.join for the error, whose answer a server may
    trickle (with the Location header langgraph-api always sends): langgraph-sdk's reconnect
    loop then tried five more times, sleeping 1-5 s between, outside each request's deadline
    (26 s here with a 1 s deadline). The error is read from the thread instead, or the last
    run's status; join is never called."""

    def trickle() -> Iterator[bytes]:
        for byte in b'{"__error__": {"error": "ValueError", "message": "no"}}':
            time.sleep(0.3)
            yield bytes([byte])

    error: dict = {}

    def app(request: HttpRequest) -> HttpResponse:
        if request.path == f"/threads/{REMOTE}":
            return HttpResponse.json({"thread_id": REMOTE, "status": "error", **error})
        if request.path == f"/threads/{REMOTE}/state":
            return HttpResponse.json(
                {
                    "values": {},
                    "next": ["send"],
                    "tasks": [],
                    "created_at": "2026-11-22T00:00:00+00:00",
                    "checkpoint": {"checkpoint_id": "c1"},
                }
            )
        if request.path == f"/threads/{REMOTE}/runs":
            return HttpResponse.json([{"run_id": "r1", "status": "error"}])
        join = f"/threads/{REMOTE}/runs/r1/join"
        headers = {"Content-Type": "application/json", "Location": join}
        return HttpResponse(200, trickle(), headers)

    server = BackgroundHttpServer(app)
    server.start()
    said: list = []
    try:
        url = f"http://127.0.0.1:{server.port}"
        settings = ServerSettings(url, None, None, 60.0)
        runner = ServerRunner(server_client(settings, deadline=1.0), settings.shown)
        for kept in ({}, {"error": {"error": "ValueError", "message": "no"}}):
            error.clear()
            error.update(kept)  # what the thread keeps of its last run's exception
            took, raised = ended_within(60.0, lambda: said.append(runner.state("draft", THREAD)))
            assert raised is None and took < 3.0, (took, raised)
    finally:
        server.stop()
    assert [state.failed for state in said] == [
        "the run ended as error on the LangGraph server",
        "ValueError: no",
    ]


class S(TypedDict):
    text: str


def _graph():
    g = StateGraph(S)
    g.add_node("draft", lambda s: {"text": "draft: " + s["text"]})
    g.add_node("send", lambda s: {})
    g.add_edge(START, "draft")
    g.add_edge("draft", "send")
    g.add_edge("send", END)
    return g.compile(checkpointer=InMemorySaver(), interrupt_before=["send"])


def _served(snap) -> dict:
    """The thread's state as GET /threads/{id}/state answers it."""
    return {
        "values": snap.values,
        "next": list(snap.next),
        "tasks": [
            {"id": t.id, "name": t.name, "interrupts": [], "error": t.error} for t in snap.tasks
        ],
        "metadata": dict(snap.metadata or {}),
        "created_at": snap.created_at,
        "checkpoint": {"checkpoint_id": snap.config["configurable"]["checkpoint_id"]},
    }


def test_an_edit_whose_continue_did_not_reach_the_server_is_continued_not_asked_again():
    """Edit at a static breakpoint = update_state, then a run (Driver.answer, Update). When the
    update lands and runs.create does not (503, dropped connection, deadline), the sweep's
    _guard reads the thread: the in-process runner calls it a run to continue (stuck), and
    Applier.try_apply proceeds. The server runner calls it a *new* breakpoint
    (bp:<new checkpoint>): the decision is marked applied without the run continuing, and a
    second card asks again."""
    graph = _graph()
    config = {"configurable": {"thread_id": THREAD}}
    graph.invoke({"text": "hi"}, config)
    first = state_of(_served(graph.get_state(config)), "interrupted").breakpoint
    assert first is not None  # the card the reviewer edited

    graph.update_state(config, {"text": "edited"})  # the Edit's update reached the graph
    # ... and its runs.create did not. Thread status on the server is "interrupted" (has next).
    in_process = InProcessRunner({"g": graph}).state("g", THREAD)
    assert in_process.stuck and in_process.breakpoint is None  # continued by Applier.try_apply

    on_server = state_of(_served(graph.get_state(config)), "interrupted")
    assert on_server.breakpoint is None, (
        f"a new breakpoint {on_server.breakpoint.id} != {first.id}: the decision is marked "
        "applied without continuing, and the same pause is asked again"
    )
    assert on_server.stuck


def test_a_run_interrupted_on_the_server_is_not_shown_as_a_breakpoint():
    """A run cancelled on the server (Studio's stop, runs.cancel(action="interrupt"), another
    client's multitask "interrupt") ends with the thread "interrupted" and work left (langgraph-
    api's set_joint_status: UserInterrupt + next => "interrupted"). The graph has no static
    breakpoints, yet the runner reports one "before `send`": a card asks to approve a pause the
    graph never made (and ``breakpoints: skip`` silently continues a run someone stopped)."""

    def app(request: HttpRequest) -> HttpResponse:
        if request.path == f"/threads/{REMOTE}":
            return HttpResponse.json({"thread_id": REMOTE, "status": "interrupted"})
        if request.path == f"/threads/{REMOTE}/state":
            return HttpResponse.json(
                {
                    "values": {"text": "draft: hi"},
                    "next": ["send"],
                    "tasks": [{"id": "t", "name": "send", "interrupts": [], "error": None}],
                    "metadata": {"source": "loop", "step": 1},
                    "created_at": "2026-11-22T00:00:00+00:00",
                    "checkpoint": {"checkpoint_id": "c1"},
                }
            )
        if request.path == f"/threads/{REMOTE}/runs":
            return HttpResponse.json([{"run_id": "r1", "status": "interrupted"}])
        return HttpResponse.json({"detail": "not found"}, status=404)

    server = BackgroundHttpServer(app)
    server.start()
    try:
        url = f"http://127.0.0.1:{server.port}"
        settings = ServerSettings(url, None, None, 60.0)
        runner = ServerRunner(server_client(settings, deadline=2.0), settings.shown)
        state = runner.state("draft", THREAD)
    finally:
        server.stop()
    assert state.breakpoint is None, f"reported as a breakpoint before {state.breakpoint.node!r}"
