"""FakeOpenAI refuses strict structured-output schemas exactly where the real OpenAI API does."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

import openai
import pytest
from langchain_openai import ChatOpenAI
from pydantic import BaseModel

from tests.fakes import FakeOpenAI
from tests.fakes.openai_replies import strict_schema_problem

REQUIRED_RULE = (
    "'required' is required to be supplied and to be an array including every key in properties."
)
ADDITIONAL_RULE = "'additionalProperties' is required to be supplied and to be false."


class DictProposal(BaseModel):
    action_type: str
    parameters: dict[str, str]
    risk_level: Literal["low", "high"]


class Param(BaseModel):
    name: str
    value: str


class PairsProposal(BaseModel):
    action_type: str
    parameters: list[Param]
    risk_level: Literal["low", "high"]


@pytest.fixture(scope="module")
def openai_server() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as fake:
        yield fake


@pytest.fixture
def llm(openai_server: FakeOpenAI) -> ChatOpenAI:
    openai_server.reset()
    return ChatOpenAI(
        model="gpt-4o-mini",
        base_url=openai_server.base_url,
        api_key="sk-test",
        timeout=10,
        max_retries=0,
    )


# ------------------------------------------------------------ through the real client


def test_strict_json_schema_with_free_form_dict_is_refused(
    openai_server: FakeOpenAI, llm: ChatOpenAI
) -> None:
    openai_server.enqueue(structured={"action_type": "noop", "parameters": [], "risk_level": "low"})
    langchain_hint = "Invalid schema for OpenAI's structured output feature"  # it spots the 400
    with (
        pytest.warns(UserWarning, match=langchain_hint),
        pytest.raises(openai.BadRequestError) as info,
    ):
        llm.with_structured_output(DictProposal).invoke("plan something")
    error = info.value
    assert error.status_code == 400
    assert error.body == {
        "message": "Invalid schema for response_format 'DictProposal': In context=('properties',"
        " 'parameters'), 'additionalProperties' is required to be supplied and to be false.",
        "type": "invalid_request_error",
        "param": "response_format",
        "code": None,
    }
    [request] = openai_server.requests  # recorded, so a test can inspect the refused schema
    assert request["response_format"]["json_schema"]["strict"] is True

    # the refused request never reached the "model": the queued answer is still there
    answer = llm.with_structured_output(PairsProposal).invoke("plan something")
    assert answer == PairsProposal(action_type="noop", parameters=[], risk_level="low")


def test_strict_json_schema_with_name_value_pairs_is_accepted(
    openai_server: FakeOpenAI, llm: ChatOpenAI
) -> None:
    wanted = {
        "action_type": "post_message",
        "parameters": [{"name": "channel", "value": "C1"}, {"name": "text", "value": "hi"}],
        "risk_level": "high",
    }
    answer = llm.with_structured_output(PairsProposal).invoke(f"plan {json.dumps(wanted)}")
    assert answer == PairsProposal.model_validate(wanted)
    json_schema = openai_server.requests[-1]["response_format"]["json_schema"]
    assert json_schema["strict"] is True and strict_schema_problem(json_schema["schema"]) is None


def test_non_strict_function_calling_with_dict_is_accepted(
    openai_server: FakeOpenAI, llm: ChatOpenAI
) -> None:
    wanted = {"action_type": "post_message", "parameters": {"text": "hi"}, "risk_level": "low"}
    planner = llm.with_structured_output(DictProposal, method="function_calling")
    assert planner.invoke(json.dumps(wanted)) == DictProposal.model_validate(wanted)
    [tool] = openai_server.requests[-1]["tools"]
    assert "strict" not in tool["function"]
    assert strict_schema_problem(tool["function"]["parameters"]) is not None  # would be refused


def loose_tool(name: str, *, strict: bool) -> dict[str, Any]:
    parameters = {
        "type": "object",
        "properties": {"options": {"type": "object", "properties": {"x": {"type": "string"}}}},
        "required": ["options"],
        "additionalProperties": False,
    }
    function = {"name": name, "description": "", "parameters": parameters, "strict": strict}
    return {"type": "function", "function": function}


def test_strict_function_tool_is_refused(openai_server: FakeOpenAI, llm: ChatOpenAI) -> None:
    fine = {
        "type": "function",
        "function": {
            "name": "fine",
            "strict": True,
            "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
        },
    }
    with pytest.raises(openai.BadRequestError) as info:
        llm.bind_tools([fine, loose_tool("loose", strict=True)]).invoke("hello")
    assert info.value.body == {
        "message": "Invalid schema for function 'loose': In context=('properties', 'options'), "
        + ADDITIONAL_RULE,
        "type": "invalid_request_error",
        "param": "tools[1].function.parameters",
        "code": "invalid_function_parameters",
    }
    answer = llm.bind_tools([fine, loose_tool("loose", strict=False)]).invoke("hello")
    assert answer.content == "Draft: hello"


# ------------------------------------------------------------------ the pure checker


def obj(properties: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A strict-valid object schema (every key required, no additional properties)."""
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
        **extra,
    }


STRING = {"type": "string"}
LOOSE = {"type": "object", "properties": {"a": STRING}, "required": ["a"]}


def test_checker_accepts_strict_schemas() -> None:
    pair = obj({"name": STRING, "value": STRING})
    schema = obj(
        {
            "pairs": {"type": "array", "items": {"$ref": "#/$defs/Pair"}},
            "maybe": {"anyOf": [{"$ref": "#/$defs/Pair"}, {"type": "null"}]},
            "nullable": {**obj({"x": STRING}), "type": ["object", "null"]},
            "tags": {"type": "array", "items": STRING},
        },
        **{"$defs": {"Pair": pair}},
    )
    assert strict_schema_problem(schema) is None
    empty = {"type": "object", "properties": {}, "additionalProperties": False}
    assert strict_schema_problem(empty) is None
    assert strict_schema_problem({"type": "object", "additionalProperties": False}) is None


@pytest.mark.parametrize(
    ("schema", "context", "rule"),
    [
        ({"type": "object", "properties": {}}, (), ADDITIONAL_RULE),
        ({**obj({}), "additionalProperties": True}, (), ADDITIONAL_RULE),
        ({**obj({}), "additionalProperties": STRING}, (), ADDITIONAL_RULE),
        (obj({"d": {"type": "object", "additionalProperties": STRING}}), ("properties", "d"), None),
        (obj({}, **{"$defs": {"Pair": LOOSE}}), ("$defs", "Pair"), None),
        (obj({}, definitions={"Old": LOOSE}), ("definitions", "Old"), None),
        (obj({"xs": {"type": "array", "items": LOOSE}}), ("properties", "xs", "items"), None),
        (
            obj({"u": {"anyOf": [{"type": "null"}, LOOSE]}}),
            ("properties", "u", "anyOf", "1"),
            None,
        ),
        (
            obj({"outer": obj({"inner": obj({"deep": LOOSE})})}),
            ("properties", "outer", "properties", "inner", "properties", "deep"),
            None,
        ),
        (
            obj({"n": {**LOOSE, "type": ["object", "null"]}}),
            ("properties", "n"),
            None,
        ),
    ],
)
def test_checker_wants_additional_properties_false_everywhere(
    schema: dict[str, Any], context: tuple[str, ...], rule: str | None
) -> None:
    assert strict_schema_problem(schema) == f"In context={context!r}, {rule or ADDITIONAL_RULE}"


@pytest.mark.parametrize(
    ("schema", "context", "detail"),
    [
        ({**obj({"x": STRING, "y": STRING}), "required": ["y"]}, (), "Missing 'x'."),
        ({k: v for k, v in obj({"x": STRING}).items() if k != "required"}, (), "Missing 'x'."),
        (
            obj({"p": {**obj({"a": STRING, "b": STRING}), "required": ["a"]}}),
            ("properties", "p"),
            "Missing 'b'.",
        ),
        (
            obj({}, **{"$defs": {"D": {**obj({"a": STRING}), "required": []}}}),
            ("$defs", "D"),
            "Missing 'a'.",
        ),
        ({**obj({"x": STRING}), "required": ["x", "z"]}, (), "Extra required key 'z' supplied."),
    ],
)
def test_checker_wants_every_property_required(
    schema: dict[str, Any], context: tuple[str, ...], detail: str
) -> None:
    assert strict_schema_problem(schema) == f"In context={context!r}, {REQUIRED_RULE} {detail}"


def test_checker_wants_an_object_root() -> None:
    got = "schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{}\"'."
    assert strict_schema_problem({"type": "array", "items": STRING}) == got.format("array")
    assert strict_schema_problem({"anyOf": [obj({}), obj({"x": STRING})]}) == got.format("None")
    assert strict_schema_problem(None) == got.format("None")
    rooted_any_of = {**obj({}), "anyOf": [obj({})]}
    assert strict_schema_problem(rooted_any_of) == (
        "In context=(), 'anyOf' is not permitted at the root of the schema."
    )
