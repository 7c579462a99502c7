"""Form fields from JSON Schema, and reviewer input checked and typed against them.

Pure functions: Slack hands every input back as a string (or a selected option); ``read`` turns
those into the values the graph expects, or a problem per field for inline modal errors.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import urlparse

from jsonschema import Draft202012Validator

from bot.domain.review import FieldKind, FormField
from graphs import json_text
from graphs.addresses import EMAILS_PROBLEM, email_addresses

MAX_INPUT_CHARS = 3000  # what Slack's plain_text_input holds
_CHANNEL = re.compile(r"^[CGD][A-Z0-9]{2,}$|^#[a-z0-9][a-z0-9._-]{0,79}$")


def _label(name: str, schema: Mapping[str, Any]) -> str:
    title = schema.get("title")
    return str(title) if isinstance(title, str) and title else name.replace("_", " ").capitalize()


def _resolve(schema: Any, defs: Mapping[str, Any]) -> Mapping[str, Any]:
    """Follow a local ``$ref`` and unwrap ``Optional[...]`` (anyOf with null)."""
    if not isinstance(schema, Mapping):
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        return _resolve(defs.get(ref.removeprefix("#/$defs/"), {}), defs)
    branches = schema.get("anyOf")
    if isinstance(branches, list):
        real = [b for b in branches if not (isinstance(b, Mapping) and b.get("type") == "null")]
        if len(real) == 1:
            return {**_resolve(real[0], defs), **{k: v for k, v in schema.items() if k != "anyOf"}}
    return schema


def field_kind(schema: Mapping[str, Any]) -> tuple[FieldKind, tuple[str, ...]]:
    if isinstance(schema.get("enum"), list) and all(isinstance(v, str) for v in schema["enum"]):
        return "enum", tuple(schema["enum"])
    if "const" in schema and isinstance(schema["const"], str):
        return "enum", (schema["const"],)
    kind = schema.get("type")
    if kind == "string":
        if schema.get("format") == "email":
            return "email", ()
        if schema.get("format") in ("uri", "url"):
            return "url", ()
        long = int(schema.get("maxLength") or 0) > 200 or schema.get("format") == "multiline"
        return ("multiline" if long else "text"), ()
    if kind == "boolean":
        return "boolean", ()
    if kind == "integer":
        return "integer", ()
    if kind == "number":
        return "number", ()
    return "json", ()


def fields_from_schema(schema: Mapping[str, Any] | None, initial: Mapping[str, Any] | None = None):
    """One field per property of an object schema, pre-filled from ``initial``."""
    initial = initial or {}
    if not isinstance(schema, Mapping):
        return tuple(field_for_value(k, v) for k, v in initial.items())
    defs = schema.get("$defs") or {}
    root = _resolve(schema, defs)
    required = set(root.get("required") or [])
    out: list[FormField] = []
    for name, prop in (root.get("properties") or {}).items():
        prop = _resolve(prop, defs)
        kind, options = field_kind(prop)
        value = initial.get(name, prop.get("default"))
        out.append(
            FormField(
                name=str(name),
                label=_label(str(name), prop),
                kind=kind,
                required=name in required,
                initial=value,
                options=options,
                hint=str(prop.get("description") or "")[:150],
            )
        )
    return tuple(out)


def field_for_value(name: str, value: Any) -> FormField:
    """A field for a value with no schema: its Python type decides the input."""
    label = name.replace("_", " ").capitalize()
    if isinstance(value, bool):
        return FormField(name, label, "boolean", True, value)
    if isinstance(value, int):
        return FormField(name, label, "integer", True, value)
    if isinstance(value, float) and not math.isfinite(value):  # NaN, Infinity: no number input
        return FormField(name, label, "text", False, str(value))
    if isinstance(value, float):
        return FormField(name, label, "number", True, value)
    if isinstance(value, str):
        kind: FieldKind = "multiline" if len(value) > 80 or "\n" in value else "text"
        return FormField(name, label, kind, False, value)
    if not _json(value):  # a datetime, bytes, a set, a model: shown and edited as its text
        return FormField(name, label, "text", False, str(value))
    return FormField(name, label, "json", False, value)


def _json(value: Any) -> bool:
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        return False
    return True


def initial_text(field: FormField) -> str:
    """What the input shows at first: strings as they are (never JSON-escaped), nothing for
    None, JSON for structures."""
    value = field.initial
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, indent=1)


def too_long(fields: tuple[FormField, ...]) -> list[str]:
    """What cannot be shown in Slack's editor, as "Body is 12,345 characters long"."""
    return [
        f"{f.label} is {len(initial_text(f)):,} characters long"
        for f in fields
        if len(initial_text(f)) > MAX_INPUT_CHARS
    ]


def _one(field: FormField, raw: str | None) -> tuple[Any, str | None]:
    text = (raw or "").strip() if field.kind != "multiline" else (raw or "").strip("\n")
    if not text.strip():
        if field.required:
            return None, f"{field.label} can't be empty."
        return (None if field.kind not in ("text", "multiline") else ""), None
    if field.kind in ("text", "multiline"):
        return text, None
    if field.kind == "email":
        return text, None if email_addresses(text) is not None else EMAILS_PROBLEM
    if field.kind == "url":
        ok = urlparse(text).scheme in ("http", "https")
        return text, None if ok else "Enter an http:// or https:// URL."
    if field.kind == "channel":
        return text, None if _CHANNEL.match(text) else "Enter a channel ID (C…) or #channel-name."
    if field.kind == "enum":
        return text, None if text in field.options else f"Pick one of: {', '.join(field.options)}."
    if field.kind == "boolean":
        if text.lower() in ("true", "yes"):
            return True, None
        if text.lower() in ("false", "no"):
            return False, None
        return None, "Choose yes or no."
    if field.kind == "integer":
        try:
            return int(text), None
        except ValueError:
            return None, "Enter a whole number."
    if field.kind == "number":
        try:
            number = float(text)
        except ValueError:
            return None, "Enter a number."
        # float() also reads "nan" and "inf", which JSON (and so Slack) cannot carry.
        return (number, None) if math.isfinite(number) else (None, "Enter a number.")
    value, problem = json_text.parse(text)
    if problem or not isinstance(field.initial, str):
        return value, problem
    # JSON held as text (an action's payload): what runs is the text as submitted, so a
    # payload the reviewer left alone goes out byte for byte as they read it (parsed and
    # written again, big numbers, duplicate keys and spacing would change).
    return text, None


def refused_by(schema: Mapping[str, Any] | None, values: Mapping[str, Any]) -> dict[str, str]:
    """What the graph's own JSON Schema (``schema``) would refuse in ``values`` (typed, as
    :func:`read` gives them), by field name: the form checks types, the schema may say more
    (a minimum, a pattern, a length), and an answer the graph refuses after it was accepted
    would leave its run waiting on nobody. Empty when it accepts them (or there is none)."""
    if not isinstance(schema, Mapping):
        return {}
    try:
        validator = Draft202012Validator(dict(schema))
        problems = list(validator.iter_errors(dict(values)))
    except Exception:  # a schema jsonschema cannot read: the graph's own check stays
        return {}
    refused: dict[str, str] = {}
    for problem in problems:
        path = [p for p in problem.absolute_path]
        name = str(path[0]) if path else next(iter(values), "")
        refused.setdefault(name, _said(problem.message))
    return refused


def _said(message: str) -> str:
    return message if len(message) <= 150 else message[:149] + "…"


def read(
    fields: tuple[FormField, ...], raw: Mapping[str, str | None]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Typed values by field name, and problems by field name (empty when all is well)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in fields:
        value, problem = _one(field, raw.get(field.name))
        if problem:
            errors[field.name] = problem
        elif value is not None or field.kind in ("text", "multiline"):
            values[field.name] = value
    return values, errors


def edited_args(
    args: Mapping[str, Any], fields: Collection[str], values: Mapping[str, Any] | None
) -> dict[str, Any]:
    """A call's arguments after an edit: the form's ``fields`` are what the person submitted
    (``values``; a field they emptied, absent there, is dropped, not put back from the
    proposal), and the arguments the form does not show stay as proposed. No values at all
    (no form came back): the call as proposed."""
    if values is None:
        return dict(args)
    kept = {name: value for name, value in args.items() if name not in fields}
    return {**kept, **values}
