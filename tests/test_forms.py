"""Form fields from JSON Schema, and reviewer input read back, checked and typed."""

from __future__ import annotations

import datetime
from typing import Literal

import pytest
from pydantic import AnyUrl, BaseModel, Field, TypeAdapter

from bot.agents.forms import (
    MAX_INPUT_CHARS,
    field_for_value,
    field_kind,
    fields_from_schema,
    initial_text,
    read,
    refused_by,
    too_long,
)
from bot.domain.review import FormField


class Address(BaseModel):
    street: str
    city: str


class Order(BaseModel):
    """What a pydantic model publishes: ``$ref``, ``Optional`` as anyOf-with-null, enums."""

    customer_email: str = Field(json_schema_extra={"format": "email"})
    website: AnyUrl | None = None
    quantity: int = Field(description="How many units")
    price: float
    gift: bool = False
    size: Literal["S", "M", "L"] = "M"
    kind: Literal["order"] = "order"
    note: str | None = None
    address: Address
    tags: list[str] = []


def by_name(fields: tuple[FormField, ...]) -> dict[str, FormField]:
    return {f.name: f for f in fields}


def test_a_pydantic_schema_gives_one_typed_field_per_property():
    fields = by_name(fields_from_schema(TypeAdapter(Order).json_schema()))
    assert {n: (f.kind, f.required) for n, f in fields.items()} == {
        "customer_email": ("email", True),
        "website": ("url", False),
        "quantity": ("integer", True),
        "price": ("number", True),
        "gift": ("boolean", False),
        "size": ("enum", False),
        "kind": ("enum", False),
        "note": ("text", False),
        "address": ("json", True),
        "tags": ("json", False),
    }
    assert fields["size"].options == ("S", "M", "L")
    assert fields["kind"].options == ("order",)
    assert fields["quantity"].hint == "How many units"
    assert fields["customer_email"].label == "Customer Email"  # pydantic's title
    assert (fields["gift"].initial, fields["size"].initial, fields["note"].initial) == (
        False,
        "M",
        None,
    )


def test_initial_values_win_over_defaults():
    schema = TypeAdapter(Order).json_schema()
    fields = by_name(fields_from_schema(schema, {"size": "L", "quantity": 3, "extra": 1}))
    assert fields["size"].initial == "L"
    assert fields["quantity"].initial == 3
    assert "extra" not in fields


def test_a_root_ref_is_followed():
    schema = {
        "$ref": "#/$defs/Address",
        "$defs": {"Address": TypeAdapter(Address).json_schema()},
    }
    assert [f.name for f in fields_from_schema(schema)] == ["street", "city"]


def test_a_property_ref_to_a_scalar_is_followed():
    schema = {
        "type": "object",
        "properties": {"colour": {"$ref": "#/$defs/Colour"}},
        "$defs": {"Colour": {"enum": ["red", "blue"], "type": "string"}},
        "required": ["colour"],
    }
    [field] = fields_from_schema(schema)
    assert (field.kind, field.options, field.required) == ("enum", ("red", "blue"), True)


def test_optional_keeps_the_outer_title_and_default():
    schema = {
        "type": "object",
        "properties": {
            "when": {
                "anyOf": [{"type": "integer"}, {"type": "null"}],
                "default": None,
                "title": "When exactly",
            }
        },
    }
    [field] = fields_from_schema(schema)
    assert (field.kind, field.label, field.initial, field.required) == (
        "integer",
        "When exactly",
        None,
        False,
    )


def test_a_union_of_several_types_is_edited_as_json():
    schema = {"properties": {"x": {"anyOf": [{"type": "integer"}, {"type": "string"}]}}}
    assert fields_from_schema(schema)[0].kind == "json"


def test_labels_come_from_titles_or_names():
    schema = {"properties": {"due_date": {"type": "string"}, "b": {"type": "string", "title": ""}}}
    assert [f.label for f in fields_from_schema(schema)] == ["Due date", "B"]


def test_hints_are_cut_to_150_characters():
    schema = {"properties": {"x": {"type": "string", "description": "d" * 400}}}
    assert len(fields_from_schema(schema)[0].hint) == 150


@pytest.mark.parametrize(
    ("prop", "kind"),
    [
        ({"type": "string"}, "text"),
        ({"type": "string", "maxLength": 201}, "multiline"),
        ({"type": "string", "maxLength": 200}, "text"),
        ({"type": "string", "format": "multiline"}, "multiline"),
        ({"type": "string", "format": "email"}, "email"),
        ({"type": "string", "format": "uri"}, "url"),
        ({"type": "string", "format": "url"}, "url"),
        ({"type": "string", "format": "date"}, "text"),
        ({"type": "boolean"}, "boolean"),
        ({"type": "integer"}, "integer"),
        ({"type": "number"}, "number"),
        ({"type": "array"}, "json"),
        ({"type": "object"}, "json"),
        ({}, "json"),
        ({"enum": ["a", "b"]}, "enum"),
        ({"enum": [1, 2], "type": "integer"}, "integer"),
        ({"const": "x"}, "enum"),
        ({"const": 3, "type": "integer"}, "integer"),
    ],
)
def test_field_kinds(prop, kind):
    assert field_kind(prop)[0] == kind


def test_no_schema_types_the_fields_from_the_initial_values():
    fields = fields_from_schema(None, {"to": "a@b.co", "n": 2})
    assert [(f.name, f.kind) for f in fields] == [("to", "text"), ("n", "integer")]
    assert fields_from_schema(None) == ()
    assert fields_from_schema({"type": "object"}, {"to": "x"}) == ()


@pytest.mark.parametrize(
    ("value", "kind", "required"),
    [
        (True, "boolean", True),
        (3, "integer", True),
        (2.5, "number", True),
        ("short", "text", False),
        ("x" * 81, "multiline", False),
        ("two\nlines", "multiline", False),
        (None, "json", False),
        ([1], "json", False),
        ({"a": 1}, "json", False),
    ],
)
def test_field_for_value(value, kind, required):
    field = field_for_value("due_date", value)
    assert (field.label, field.kind, field.required, field.initial) == (
        "Due date",
        kind,
        required,
        value,
    )


@pytest.mark.parametrize(
    ("initial", "text"),
    [
        (None, ""),
        ('Grüße, 東京 "quoted"\n', 'Grüße, 東京 "quoted"\n'),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (2.5, "2.5"),
        ({"city": "Zürich", "n": [1]}, '{\n "city": "Zürich",\n "n": [\n  1\n ]\n}'),
        (["é"], '[\n "é"\n]'),
    ],
)
def test_initial_text(initial, text):
    assert initial_text(FormField("x", "X", initial=initial)) == text


def test_too_long_names_each_field_that_does_not_fit():
    fields = (
        FormField("a", "Body", "multiline", initial="b" * (MAX_INPUT_CHARS + 1)),
        FormField("b", "Short", initial="s" * MAX_INPUT_CHARS),
        FormField("c", "Data", "json", initial={"k": "v" * 12_345}),
    )
    assert too_long(fields) == [
        "Body is 3,001 characters long",
        f"Data is {len(initial_text(fields[2])):,} characters long",
    ]


# read -------------------------------------------------------------------------------------
def field(kind="text", required=True, options=()) -> FormField:
    return FormField("f", "Amount", kind, required, options=options)


def read_one(f: FormField, raw: str | None):
    values, errors = read((f,), {"f": raw})
    return values.get("f", "<absent>"), errors.get("f")


@pytest.mark.parametrize("raw", [None, "", "   ", "\n"])
@pytest.mark.parametrize("kind", ["text", "multiline", "integer", "json", "enum", "boolean"])
def test_a_required_field_cannot_be_empty(kind, raw):
    assert read_one(field(kind), raw) == ("<absent>", "Amount can't be empty.")


@pytest.mark.parametrize("raw", [None, "", "  "])
def test_an_optional_empty_text_is_an_empty_string(raw):
    assert read_one(field("text", required=False), raw) == ("", None)
    assert read_one(field("multiline", required=False), raw) == ("", None)


@pytest.mark.parametrize("kind", ["integer", "number", "boolean", "json", "email", "url", "enum"])
def test_an_optional_empty_typed_field_is_left_out(kind):
    assert read_one(field(kind, required=False), "") == ("<absent>", None)


def test_text_is_stripped_but_multiline_keeps_its_indentation():
    assert read_one(field("text"), "  hi  ") == ("hi", None)
    assert read_one(field("multiline"), "\n  - one\n  - two  \n") == ("  - one\n  - two  ", None)


@pytest.mark.parametrize(
    ("kind", "raw", "value"),
    [
        ("integer", " 42 ", 42),
        ("integer", "-3", -3),
        ("number", "2.5", 2.5),
        ("number", "3", 3.0),
        ("boolean", "true", True),
        ("boolean", "Yes", True),
        ("boolean", "FALSE", False),
        ("boolean", "no", False),
        ("json", '{"a": [1, "é"]}', {"a": [1, "é"]}),
        ("json", "[]", []),
        ("email", "a@b.co", "a@b.co"),
        ("email", "a@b.co, c.d@e.org", "a@b.co, c.d@e.org"),
        ("email", "o'brien+ops@mail.corp-1.example", "o'brien+ops@mail.corp-1.example"),
        ("url", "https://example.com/x?y=1", "https://example.com/x?y=1"),
        ("url", "http://localhost:8080", "http://localhost:8080"),
        ("channel", "C0123ABC", "C0123ABC"),
        ("channel", "#ops-alerts", "#ops-alerts"),
    ],
)
def test_each_kind_is_typed(kind, raw, value):
    assert read_one(field(kind), raw) == (value, None)


def test_json_null_in_an_optional_field_is_left_out():
    assert read_one(field("json", required=False), "null") == ("<absent>", None)


def test_an_enum_must_be_one_of_its_options():
    f = field("enum", options=("S", "M"))
    assert read_one(f, "M") == ("M", None)
    assert read_one(f, "XL")[1] == "Pick one of: S, M."


@pytest.mark.parametrize(
    ("kind", "raw", "problem"),
    [
        ("integer", "1.5", "Enter a whole number."),
        ("integer", "ten", "Enter a whole number."),
        ("number", "1,5", "Enter a number."),
        ("number", "nan", "Enter a number."),
        ("number", "-Infinity", "Enter a number."),
        ("boolean", "maybe", "Choose yes or no."),
        ("email", "not-an-email", "Enter one or more email addresses, separated by commas."),
        ("email", "a@b.co; c@d.co", "Enter one or more email addresses, separated by commas."),
        ("email", "a@b.co,", "Enter one or more email addresses, separated by commas."),
        # Addresses that are not what they spell (smtplib would send to "ceo", to the IP
        # 10.0.0.5, to evil@x.example): only plain name@host.example passes.
        ("email", "x<ceo>@corp.example", "Enter one or more email addresses, separated by commas."),
        (
            "email",
            "ops@[10.0.0.5].corp.example",
            "Enter one or more email addresses, separated by commas.",
        ),
        (
            "email",
            "=?utf-8?q?ceo=40corp.example?=<evil@x.example>",
            "Enter one or more email addresses, separated by commas.",
        ),
        ("email", "ops@10.0.0.5", "Enter one or more email addresses, separated by commas."),
        ("email", '"ceo"@corp.example', "Enter one or more email addresses, separated by commas."),
        (
            "email",
            "ceo%relay@corp.example",
            "Enter one or more email addresses, separated by commas.",
        ),
        (
            "email",
            "ceo(boss)@corp.example",
            "Enter one or more email addresses, separated by commas.",
        ),
        ("url", "example.com", "Enter an http:// or https:// URL."),
        ("url", "ftp://example.com", "Enter an http:// or https:// URL."),
        ("channel", "ops", "Enter a channel ID (C…) or #channel-name."),
        ("channel", "#Ops", "Enter a channel ID (C…) or #channel-name."),
    ],
)
def test_invalid_input_is_refused_with_a_reason(kind, raw, problem):
    assert read_one(field(kind), raw)[1] == problem


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('{"a": NaN}', "Not valid JSON: NaN is not a JSON value."),
        ("[Infinity]", "Not valid JSON: Infinity is not a JSON value."),
        ("-Infinity", "Not valid JSON: -Infinity is not a JSON value."),
        ('{"a": 1e999}', "Not valid JSON: 1e999 is too large a number."),
        (
            '{"a": 1' + "0" * 400 + "}",
            "Not valid JSON: 100000000000… (401 digits) is too large a number.",
        ),
    ],
)
def test_json_refuses_what_python_reads_but_json_is_not(raw, problem):
    assert read_one(field("json"), raw)[1] == problem
    held = FormField("f", "F", "json", initial="{}")
    assert read((held,), {"f": raw}) == ({}, {"f": problem})


def test_json_held_as_text_is_kept_as_the_text_submitted():
    """An action's payload is text: parsed and written again, it would not be what was read."""
    raw = '{"n": 0.123456789012345678, "n": 2,\n "big": 12345678901234567890.0}'
    held = FormField("payload", "Payload", "json", required=False, initial='{"n": 1}')
    assert read((held,), {"payload": raw}) == ({"payload": raw}, {})


def test_json_held_as_a_structure_is_read_into_one():
    tags = FormField("tags", "Tags", "json", initial=["a"])
    assert read((tags,), {"tags": '["a", "b"]'}) == ({"tags": ["a", "b"]}, {})


def test_invalid_json_says_where():
    _, problem = read_one(field("json"), '{"a": 1,\n "b": }')
    assert problem == "Not valid JSON: Expecting value (line 2, column 7)."


def test_read_collects_every_value_and_every_problem():
    fields = (
        FormField("to", "To", "email"),
        FormField("n", "Count", "integer"),
        FormField("note", "Note", "text", required=False),
        FormField("tags", "Tags", "json", required=False),
    )
    values, errors = read(fields, {"to": "a@b.co", "n": "x", "ignored": "1"})
    assert values == {"to": "a@b.co", "note": ""}
    assert errors == {"n": "Enter a whole number."}
    values, errors = read(fields, {"to": "a@b.co", "n": "2", "tags": '["x"]'})
    assert (values, errors) == ({"to": "a@b.co", "n": 2, "note": "", "tags": ["x"]}, {})


@pytest.mark.parametrize(
    "value",
    [
        datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        b"raw bytes",
        {"a", "b"} - {"b"},
        float("nan"),
        float("inf"),
    ],
    ids=["datetime", "bytes", "set", "nan", "inf"],
)
def test_a_value_json_cannot_hold_is_edited_as_its_text_and_accepted_as_proposed(value):
    """Its input showed str(value) as JSON to fill in, which the same form then refused as not
    valid JSON (or NaN as not a number): an edit left as proposed could not be submitted."""
    field = field_for_value("when", value)
    assert field.kind == "text" and field.initial == str(value)
    values, errors = read((field,), {"when": initial_text(field)})
    assert errors == {} and values == {"when": str(value)}


def test_what_the_graph_s_own_schema_refuses_is_named_by_field():
    schema = {
        "type": "object",
        "properties": {"count": {"type": "integer", "minimum": 1, "maximum": 10}},
        "required": ["count"],
    }
    assert refused_by(schema, {"count": 0}) == {"count": "0 is less than the minimum of 1"}
    assert refused_by(schema, {"count": 3}) == {}
    assert refused_by(None, {"count": 0}) == {}  # no schema: nothing more to check
    assert refused_by({"type": "nonsense"}, {"count": 0}) == {}  # unreadable: the graph's own
