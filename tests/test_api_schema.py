"""``GET /api/openapi.json`` says what the API does: a body the API's validator refuses, the
document's schema refuses too, and one it takes, the schema takes; the document's paths are the
routes the API serves; and what the API answers fits the document's answers.

The document is checked with ``jsonschema`` (Python's ``re``), the validator runs pydantic: two
regex engines, so a pattern that means one thing to each (``$`` before a final newline) shows."""

from __future__ import annotations

import re
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from starlette.applications import Starlette
from starlette.testclient import TestClient

from bot.config.principals import USER, Principal, Principals
from bot.http import api_models
from bot.http.api import Api
from bot.http.api_bodies import Invalid, parse
from bot.http.api_models import DecisionBody, ReadQuery
from tests.support.cards import wait_card
from tests.support.inprocess import Clock, inprocess_deps

GRAPHS = ["draft", "research"]
TOKEN = "req-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
LONG = "x" * api_models.MAX_REQUEST

START_CASES: list[tuple[Any, str | None]] = [  # (body, the field refused, or None: taken)
    ({"request": "Post the notes", "channel": "C0REQ"}, None),
    ({"request": " padded ", "channel": "G0PRIVATE", "requester": "U0REQ"}, None),
    ({"request": LONG, "channel": "D0DM", "requester": "W0ENTERPRISE", "graph": "research"}, None),
    ({"request": "x", "channel": "C0REQ", "requester": None, "unknown": 1}, None),
    ({"request": "x\u200bx", "channel": "C0REQ"}, None),  # zero-width space: not whitespace
    ([1, 2], "body"),
    ("text", "body"),
    ({"channel": "C0REQ"}, "request"),
    ({"request": None, "channel": "C0REQ"}, "request"),
    ({"request": 5, "channel": "C0REQ"}, "request"),
    ({"request": "  ", "channel": "C0REQ"}, "request"),
    ({"request": "\n\t\u3000\u00a0\u0085", "channel": "C0REQ"}, "request"),
    ({"request": "\x1c\x1f", "channel": "C0REQ"}, "request"),  # str.strip() removes these
    ({"request": LONG + "x", "channel": "C0REQ"}, "request"),
    ({"request": "x", "channel": "C0REQ", "requester": "bob"}, "requester"),
    ({"request": "x", "channel": "C0REQ", "requester": "U0REQ\n"}, "requester"),
    ({"request": "x", "channel": "C0REQ", "requester": "U0REQ\r"}, "requester"),
    ({"request": "x", "channel": "C0REQ", "requester": "u0req"}, "requester"),
    ({"request": "x", "channel": "C0REQ", "requester": "U0"}, "requester"),
    ({"request": "x", "channel": "C0REQ", "requester": " U0REQ"}, "requester"),
    ({"request": "x", "channel": "C0REQ", "requester": "U0REQ "}, "requester"),
    ({"request": "x", "channel": "C0REQ", "requester": "xU0REQ"}, "requester"),
    ({"request": "x", "channel": "C0REQ", "requester": 7}, "requester"),
    ({"request": "x"}, "channel"),
    ({"request": "x", "channel": "C0REQ\n"}, "channel"),
    ({"request": "x", "channel": "#general"}, "channel"),
    ({"request": "x", "channel": "U0REQ"}, "channel"),
    ({"request": "x", "channel": "C0REQ", "graph": "z"}, "graph"),
    ({"request": "x", "channel": "C0REQ", "graph": None}, "graph"),
]
DECISION_CASES: list[tuple[Any, str | None]] = [
    ({"decision": "approve"}, None),
    ({"decision": "reject", "by": "U0BOSS", "reason": "not now", "request": "a1b2"}, None),
    ({"decision": "edit", "values": {"text": "Hi", "n": 3}, "version": 2}, None),
    ({"decision": "approve", "version": 1.0, "by": None, "reason": None}, None),
    ({}, "decision"),
    ({"decision": "maybe"}, "decision"),
    ({"decision": "Approve"}, "decision"),
    ({"decision": None}, "decision"),
    ({"decision": "approve", "by": "U0BOSS\n"}, "by"),
    ({"decision": "approve", "by": "S0GROUP"}, "by"),
    ({"decision": "approve", "by": ["U0BOSS"]}, "by"),
    ({"decision": "approve", "request": 5}, "request"),
    ({"decision": "approve", "reason": 5}, "reason"),
    ({"decision": "approve", "version": 0}, "version"),
    ({"decision": "approve", "version": "1"}, "version"),
    ({"decision": "approve", "version": True}, "version"),
    ({"decision": "approve", "version": 1.5}, "version"),
    ({"decision": "edit", "values": []}, "values"),
    ({"decision": "edit", "values": "text"}, "values"),
]
AS_CASES: list[tuple[str, str | None]] = [
    ("U0BOSS", None),
    ("W0BOSS", None),
    ("U0BOSS\n", "as"),
    ("bob", "as"),
    ("", "as"),
]


def bare_api() -> Api:
    """The API with nothing behind it: enough for its routes, its document and its refusals."""
    principal = Principal("req", "U0REQ", token=TOKEN)
    nothing: Any = None
    return Api(
        Principals([principal]),
        nothing,
        nothing,
        nothing,
        nothing,
        nothing,
        GRAPHS,
        "draft",
        member_of=lambda channel, user: False,
    )


SHARED = bare_api()


@pytest.fixture
def api() -> Api:
    return SHARED


def checker(document: dict[str, Any], schema: dict[str, Any]) -> Draft202012Validator:
    """A JSON Schema validator for a schema in the document, its ``$ref``s resolved there."""
    rooted = {**schema, "components": document["components"]}
    Draft202012Validator.check_schema(rooted)
    return Draft202012Validator(rooted)


def body_schema(document: dict[str, Any], path: str) -> Draft202012Validator:
    body = document["paths"][path]["post"]["requestBody"]
    return checker(document, body["content"]["application/json"]["schema"])


def answer_schema(document: dict[str, Any], path: str, method: str, status: int):
    answer = document["paths"][path][method]["responses"][str(status)]
    return checker(document, answer["content"]["application/json"]["schema"])


def refused_field(model: type[api_models.Body], data: Any) -> str | None:
    try:
        parse(model, data)
    except Invalid as refused:
        assert refused.status == 422
        return refused.field
    return None


@pytest.mark.parametrize(("body", "field"), START_CASES)
def test_a_start_body_is_refused_by_the_document_when_the_validator_refuses_it(api, body, field):
    assert refused_field(api.start_body, body) == field
    assert body_schema(api.document, "/api/runs").is_valid(body) is (field is None)


@pytest.mark.parametrize(("body", "field"), DECISION_CASES)
def test_a_decision_body_is_refused_by_the_document_when_the_validator_refuses_it(api, body, field):
    assert refused_field(DecisionBody, body) == field
    schema = body_schema(api.document, "/api/runs/{run}/decision")
    assert schema.is_valid(body) is (field is None)


@pytest.mark.parametrize(("named", "field"), AS_CASES)
def test_the_as_query_is_refused_by_the_document_when_the_validator_refuses_it(api, named, field):
    assert refused_field(ReadQuery, {"as": named}) == field
    [parameter] = [
        p
        for p in api.document["paths"]["/api/runs/{run}"]["get"]["parameters"]
        if p["in"] == "query"
    ]
    assert parameter["name"] == "as" and parameter["required"] is False
    assert checker(api.document, parameter["schema"]).is_valid(named) is (field is None)


ODD = "UWCGDAZ09az \n\r\t\x1c\x85\u00a0\u2028\u3000\ufeff\u200b"


@settings(deadline=None)  # a loaded machine is no failure
@given(requester=st.one_of(st.none(), st.text(ODD, max_size=6)), request=st.text(ODD, max_size=4))
def test_validator_and_document_agree_on_any_request_and_requester(requester, request):
    api = SHARED
    body = {"request": request, "channel": "C0REQ", "requester": requester}
    taken = refused_field(api.start_body, body) is None
    assert body_schema(api.document, "/api/runs").is_valid(body) is taken
    if requester is not None:  # the principals' own check, word for word
        assert (refused_field(api.start_body, {**body, "request": "x"}) is None) is bool(
            USER.fullmatch(requester)
        )


def test_not_blank_is_what_str_strip_keeps():
    kept = re.compile(api_models.NOT_BLANK)
    for code in range(sys.maxunicode + 1):
        assert bool(kept.fullmatch(chr(code))) is not chr(code).isspace(), hex(code)


def test_the_document_lists_the_deployments_graphs(api):
    graph = api.document["components"]["schemas"]["StartRun"]["properties"]["graph"]
    assert (graph["enum"], graph["default"]) == (GRAPHS, "draft")


def test_the_documents_paths_are_the_routes_the_api_serves(api):
    served = {
        (route.path, method.lower())
        for route in api.routes()
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(path, method) for path, ops in api.document["paths"].items() for method in ops}
    assert documented == served


def test_refusals_over_http_are_what_the_document_says(api):
    with TestClient(Starlette(routes=api.routes())) as client:
        document = client.get("/api/openapi.json").json()
        assert document == api.document
        for body, field in START_CASES:
            if field is None:
                continue
            answer = client.post("/api/runs", json=body, headers=AUTH)
            assert (answer.status_code, answer.json()["field"]) == (422, field), body
            answer_schema(document, "/api/runs", "post", 422).validate(answer.json())
        forbidden = client.post(
            "/api/runs",
            json={"request": "x", "channel": "C0REQ", "requester": "U0BOSS"},
            headers=AUTH,
        )
        assert (forbidden.status_code, forbidden.json()["field"]) == (403, "requester")
        answer_schema(document, "/api/runs", "post", 403).validate(forbidden.json())
        unknown = client.post("/api/runs", json={}, headers={"Authorization": "Bearer nope"})
        assert unknown.status_code == 401
        answer_schema(document, "/api/runs", "post", 401).validate(unknown.json())


def test_what_the_api_answers_fits_the_document(fake_slack, fake_openai, tmp_path):
    fake_slack.set_members("C0REQ", ["U0REQ"])
    deps = inprocess_deps(
        fake_slack,
        fake_openai,
        f"sqlite:///{tmp_path / 'bot.db'}",
        Clock(),
        API_TOKENS=f"req:{TOKEN}:U0REQ",
    )

    def fits(path: str, method: str, answer: Any) -> None:
        schema = answer_schema(document, path, method, answer.status_code)
        schema.validate(answer.json())

    try:
        assert deps.api is not None
        with TestClient(Starlette(routes=deps.api.routes())) as client:
            document = client.get("/api/openapi.json").json()
            body = {"request": "Post the notes", "channel": "C0REQ"}
            started = client.post("/api/runs", json=body, headers=AUTH)
            assert started.status_code == 201, started.text
            fits("/api/runs", "post", started)
            wait_card(fake_slack)
            run = f"/api/runs/{started.json()['run']}"
            read = client.get(run, headers=AUTH)
            assert read.status_code == 200 and read.json()["pending"], read.text
            fits("/api/runs/{run}", "get", read)
            for expected in (200, 409):  # decided, then already decided
                decided = client.post(f"{run}/decision", json={"decision": "approve"}, headers=AUTH)
                assert decided.status_code == expected, decided.text
                fits("/api/runs/{run}/decision", "post", decided)
            read = client.get(run, headers=AUTH)
            assert read.json()["decided"] and read.json()["timeline"], read.text
            fits("/api/runs/{run}", "get", read)
            fits("/api/runs/{run}", "get", client.get("/api/runs/ffffffff", headers=AUTH))
    finally:
        deps.close()
