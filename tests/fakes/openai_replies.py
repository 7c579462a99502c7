"""Deterministic answers for FakeOpenAI, derived from a chat.completions request body.

Pure functions: what to answer is decided by the last user message (see ``FakeOpenAI``).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass
from itertools import cycle, islice
from typing import Any

Json = dict[str, Any]

_LOREM = "lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor "
_ERROR_TYPES = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", None),
    403: ("permission_error", None),
    404: ("invalid_request_error", None),
    409: ("invalid_request_error", None),
    422: ("invalid_request_error", None),
    429: ("requests", "rate_limit_exceeded"),
}


@dataclass(frozen=True)
class Directives:
    long: int | None = None
    slow: float | None = None
    fail: int | None = None


@dataclass(frozen=True)
class ToolCall:
    """One tool call of an assistant message: ``arguments`` is sent as the JSON string."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Reply:
    """What to answer: content, a structured object, tool calls, a refusal or an HTTP error."""

    content: str | None = None
    structured: Json | None = None
    refusal: str | None = None
    status: int | None = None
    tool_calls: tuple[ToolCall, ...] | None = None


def new_call_id() -> str:
    return f"call_{uuid.uuid4().hex[:24]}"


def tool_calls_of(calls: Any) -> tuple[ToolCall, ...]:
    """``[{"name", "arguments", "id"?}, ...]`` as :class:`ToolCall`s; ``arguments`` is an
    object (sent as JSON) or a string (sent verbatim, e.g. broken JSON); ``id`` defaults to a
    fresh ``call_...``."""
    if not isinstance(calls, list | tuple) or not calls:
        raise ValueError("tool_calls must be a non-empty list of {'name', 'arguments'} dicts")
    out = []
    for call in calls:
        if not isinstance(call, dict) or not isinstance(call.get("name"), str):
            raise ValueError(f"a tool call needs a 'name' (got {call!r})")
        unknown = set(call) - {"name", "arguments", "id"}
        if unknown:
            raise ValueError(f"unknown tool call key(s) {sorted(unknown)} in {call!r}")
        arguments = call.get("arguments", {})
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        out.append(ToolCall(str(call.get("id") or new_call_id()), call["name"], arguments))
    return tuple(out)


def message_text(message: Json) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def last_user_text(body: Json) -> str:
    users = [
        m for m in body.get("messages") or [] if isinstance(m, dict) and m.get("role") == "user"
    ]
    return message_text(users[-1]) if users else ""


def parse_directives(text: str) -> Directives:
    long = re.search(r"LONG:(\d+)", text)
    slow = re.search(r"SLOW:(\d+(?:\.\d+)?)", text)
    fail = re.search(r"FAIL:(\d{3})", text)
    return Directives(
        long=int(long.group(1)) if long else None,
        slow=float(slow.group(1)) if slow else None,
        fail=int(fail.group(1)) if fail else None,
    )


def filler(length: int) -> str:
    return "".join(islice(cycle(_LOREM), length))


def json_object_in(text: str) -> Json | None:
    """The JSON object spanning the first '{' to the last '}' of ``text``, if it parses."""
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end <= start:
        return None
    try:
        value = json.loads(text[start : end + 1])
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def example_for_schema(schema: Any, root: Json | None = None) -> Any:
    """A minimal value satisfying ``schema``: required properties only, first enum value..."""
    if not isinstance(schema, dict):
        return {}
    root = schema if root is None else root
    if isinstance(schema.get("$ref"), str):
        target: Any = root
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        return example_for_schema(target, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        options = [o for o in schema.get(key) or [] if o.get("type") != "null"]
        if options:
            return example_for_schema(options[0], root)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "string":
        return "x" * max(1, schema.get("minLength", 1))
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "array":
        return [example_for_schema(schema.get("items"), root)] * schema.get("minItems", 0)
    if kind == "null":
        return None
    properties = schema.get("properties") or {}
    return {
        name: example_for_schema(properties.get(name), root) for name in schema.get("required", [])
    }


def plain_reply(text: str, directives: Directives) -> str:
    return filler(directives.long) if directives.long is not None else "Draft: " + text


@dataclass(frozen=True)
class StructuredRequest:
    """How the request asks for structure: a JSON content schema or a (forced) tool call."""

    schema: Json | None
    tool_name: str | None  # None: answer in content
    forced: bool


def structured_request(body: Json) -> StructuredRequest | None:
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        return StructuredRequest(fmt.get("json_schema", {}).get("schema"), None, True)
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return StructuredRequest(None, None, True)
    tools = [t for t in body.get("tools") or [] if t.get("type") == "function"]
    choice = body.get("tool_choice", "auto")
    if not tools or choice == "none":
        return None
    tool = tools[0]
    if isinstance(choice, dict):
        wanted = choice.get("function", {}).get("name")
        tool = next((t for t in tools if t["function"].get("name") == wanted), tool)
    function = tool["function"]
    return StructuredRequest(function.get("parameters"), function["name"], choice != "auto")


def choose_reply(body: Json) -> Reply:
    text = last_user_text(body)
    directives = parse_directives(text)
    if directives.fail is not None:
        return Reply(status=directives.fail)
    request = structured_request(body)
    messages = body.get("messages") or [{}]
    after_tool = isinstance(messages[-1], dict) and messages[-1].get("role") == "tool"
    if request is None or after_tool:
        return Reply(content=plain_reply(text, directives))
    found = json_object_in(text)
    if request.tool_name is not None and not request.forced and found is None:
        return Reply(content=plain_reply(text, directives))  # tool_choice=auto: no call
    return Reply(structured=found if found is not None else example_for_schema(request.schema))


def completion(body: Json, reply: Reply) -> Json:
    """A chat.completion object for a non-error ``reply``."""
    request = structured_request(body)
    message: Json = {"role": "assistant", "content": reply.content, "refusal": reply.refusal}
    finish_reason = "stop"
    if reply.tool_calls:
        calls = reply.tool_calls
        if body.get("parallel_tool_calls") is False:
            calls = calls[:1]  # the model may call at most one tool then
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.arguments},
            }
            for call in calls
        ]
        finish_reason = "tool_calls"
    elif reply.structured is not None:
        arguments = json.dumps(reply.structured)
        if request is not None and request.tool_name is not None:
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": new_call_id(),
                    "type": "function",
                    "function": {"name": request.tool_name, "arguments": arguments},
                }
            ]
            finish_reason = "stop" if request.forced else "tool_calls"  # as OpenAI does
        else:
            message["content"] = arguments
    prompt = sum(len(message_text(m)) for m in body.get("messages") or [] if isinstance(m, dict))
    produced = len(message["content"] or "") + len(json.dumps(message.get("tool_calls") or ""))
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:29]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", "gpt-4o-mini"),
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": usage(prompt // 4 + 1, produced // 4 + 1),
        "service_tier": "default",
        "system_fingerprint": "fp_fake",
    }


def usage(prompt_tokens: int, completion_tokens: int) -> Json:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def stream_chunks(result: Json, include_usage: bool) -> list[Json]:
    """``result`` (a chat.completion) re-cut as chat.completion.chunk objects."""
    choice = result["choices"][0]
    message = choice["message"]
    base = {k: result[k] for k in ("id", "created", "model", "system_fingerprint")}
    base["object"] = "chat.completion.chunk"

    def chunk(delta: Json, finish_reason: str | None = None) -> Json:
        entry = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**base, "choices": [entry]}

    chunks = [chunk({"role": "assistant", "content": "", "refusal": None})]
    content = message.get("content") or ""
    chunks += [chunk({"content": content[i : i + 40]}) for i in range(0, len(content), 40)]
    for index, call in enumerate(message.get("tool_calls") or []):
        function = {"name": call["function"]["name"], "arguments": call["function"]["arguments"]}
        delta = {"index": index, "id": call["id"], "type": "function", "function": function}
        chunks.append(chunk({"tool_calls": [delta]}))
    chunks.append(chunk({}, choice["finish_reason"]))
    if include_usage:
        chunks.append({**base, "choices": [], "usage": result["usage"]})
    return chunks


def error_body(
    status: int,
    message: str | None = None,
    *,
    code: str | None = None,
    param: str | None = None,
) -> Json:
    kind, default_code = _ERROR_TYPES.get(status, ("server_error", None))
    text = message or f"The fake model failed on purpose with HTTP {status}."
    return {"error": {"message": text, "type": kind, "param": param, "code": code or default_code}}


# ----------------------------------------------------------- strict structured outputs

_SUBSCHEMA_LISTS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SUBSCHEMA_MAPS = ("properties", "$defs", "definitions")
_REQUIRED_RULE = (
    "'required' is required to be supplied and to be an array including every key in properties."
)


def strict_schema_problem(schema: Any) -> str | None:
    """Why OpenAI's strict mode refuses ``schema``, or None when it is accepted.

    The text is what follows "Invalid schema for response_format 'Name': " in OpenAI's 400
    message. Checked, as OpenAI does: the root is a plain object (no root ``anyOf``); every
    object schema anywhere (properties, items, anyOf/oneOf/allOf branches, $defs/definitions)
    sets ``additionalProperties: false`` and lists every key of ``properties`` in ``required``.
    """
    kind = schema.get("type") if isinstance(schema, dict) else None
    if kind != "object":
        return f"schema must be a JSON Schema of 'type: \"object\"', got 'type: \"{kind}\"'."
    if "anyOf" in schema:
        return "In context=(), 'anyOf' is not permitted at the root of the schema."
    return _subschema_problem(schema, ())


def _subschema_problem(schema: Any, path: tuple[str, ...]) -> str | None:
    if not isinstance(schema, dict):
        return None
    if _is_object_schema(schema):
        problem = _object_problem(schema)
        if problem is not None:
            return f"In context={path!r}, {problem}"
    children: list[tuple[tuple[str, ...], Any]] = []
    for key in _SUBSCHEMA_MAPS:
        if isinstance(schema.get(key), dict):
            children += [((*path, key, str(k)), v) for k, v in schema[key].items()]
    items = schema.get("items")
    if isinstance(items, list):
        children += [((*path, "items", str(i)), v) for i, v in enumerate(items)]
    else:
        children.append(((*path, "items"), items))
    for key in _SUBSCHEMA_LISTS:
        if isinstance(schema.get(key), list):
            children += [((*path, key, str(i)), v) for i, v in enumerate(schema[key])]
    for child_path, child in children:
        problem = _subschema_problem(child, child_path)
        if problem is not None:
            return problem
    return None


def _is_object_schema(schema: Json) -> bool:
    kind = schema.get("type")
    if isinstance(kind, list):
        return "object" in kind
    return kind == "object" or (kind is None and "properties" in schema)


def _object_problem(schema: Json) -> str | None:
    if schema.get("additionalProperties") is not False:
        return "'additionalProperties' is required to be supplied and to be false."
    properties = schema.get("properties")
    keys = list(properties) if isinstance(properties, dict) else []
    required = schema.get("required")
    if required is None and not keys:
        return None
    if not isinstance(required, list):
        return f"{_REQUIRED_RULE} Missing '{keys[0]}'."
    missing = [k for k in keys if k not in required]
    if missing:
        return f"{_REQUIRED_RULE} Missing '{missing[0]}'."
    extra = [k for k in required if k not in keys]
    if extra:
        return f"{_REQUIRED_RULE} Extra required key '{extra[0]}' supplied."
    return None


def strict_schema_refusal(body: Json) -> Json | None:
    """OpenAI's 400 error body when a strict schema of the request breaks the strict rules.

    Strict schemas are ``response_format.json_schema`` and ``tools[i].function.parameters``
    with ``strict: true``; non-strict ones are accepted whatever they say.
    """
    fmt = body.get("response_format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = fmt.get("json_schema") or {}
        if spec.get("strict") is True:
            problem = strict_schema_problem(spec.get("schema"))
            if problem is not None:
                message = f"Invalid schema for response_format '{spec.get('name')}': {problem}"
                return error_body(400, message, param="response_format")
    for index, tool in enumerate(body.get("tools") or []):
        function = tool.get("function") if isinstance(tool, dict) else None
        if not isinstance(function, dict) or function.get("strict") is not True:
            continue
        problem = strict_schema_problem(function.get("parameters"))
        if problem is not None:
            message = f"Invalid schema for function '{function.get('name')}': {problem}"
            param = f"tools[{index}].function.parameters"
            return error_body(400, message, param=param, code="invalid_function_parameters")
    return None
