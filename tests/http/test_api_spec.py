"""The OpenAPI document (bot.http.api_spec), generated from the API's models: a valid
OpenAPI 3.1 document whose every reference resolves, whose start body lists this deployment's
graphs, whose guarded operations all name the bearer scheme and its 401, and whose query
parameters are the query model's fields."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from bot.http.api_models import start_run
from bot.http.api_spec import openapi, operations


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi(start_run(["draft", "orders"], "draft"))


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_it_is_openapi_3_1_and_plain_json(document):
    assert document["openapi"] == "3.1.0"
    assert json.loads(json.dumps(document)) == document


def test_every_reference_resolves(document):
    schemas = document["components"]["schemas"]
    refs = set(_refs(document))
    assert refs
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


def test_every_component_is_a_valid_json_schema(document):
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)  # raises, naming what is wrong


def test_paths_are_the_operations(document):
    served = {(op.method, op.path) for op in operations(start_run(["draft"], "draft"))}
    listed = {(method, path) for path, ops in document["paths"].items() for method in ops}
    assert listed == served


def test_guarded_operations_answer_401_and_only_the_document_is_open(document):
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            if path == "/api/openapi.json":
                assert op["security"] == []
                continue
            assert "security" not in op  # the document's default: bearer
            assert "401" in op["responses"], (method, path)
    assert document["security"] == [{"bearer": []}]


def test_the_start_body_lists_this_deployments_graphs(document):
    body = document["paths"]["/api/runs"]["post"]["requestBody"]
    assert body["required"] is True
    ref = body["content"]["application/json"]["schema"]["$ref"]
    schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert "draft" in json.dumps(schema) and "orders" in json.dumps(schema)


def test_the_decision_path_names_the_run_and_its_answers(document):
    op = document["paths"]["/api/runs/{run}/decision"]["post"]
    [run] = [p for p in op["parameters"] if p["name"] == "run"]
    assert (run["in"], run["required"]) == ("path", True)
    assert {"200", "202", "404", "409", "503", "401", "403", "422"} <= set(op["responses"])


def test_query_parameters_are_never_null(document):
    op = document["paths"]["/api/runs/{run}"]["get"]
    queries = [p for p in op["parameters"] if p["in"] == "query"]
    assert queries
    for parameter in queries:
        assert (
            "anyOf" not in parameter["schema"]
            or {"type": "null"} not in parameter["schema"]["anyOf"]
        )
        assert "title" not in parameter["schema"]
