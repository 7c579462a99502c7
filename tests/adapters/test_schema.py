"""``interrupt(value, response_schema=...)``: the reviewer fills a typed form, which is the
resume value."""

from __future__ import annotations

from typing import Literal

import pytest
from pydantic import BaseModel, Field, TypeAdapter

from bot.agents import adapters, forms
from bot.agents.adapters import Context, plain, schema
from bot.domain.models import Decision
from bot.domain.review import Pending, Resume, Stop


class Refund(BaseModel):
    amount: float = Field(description="How much to refund")
    currency: Literal["EUR", "USD"]
    notify: bool
    note: str = ""
    reference: int | None = None


REFUND = TypeAdapter(Refund).json_schema()  # what LangGraph publishes on the Interrupt
CONTEXT = Context("refund")


def pending(value=None, response_schema=None) -> Pending:
    value = {"ticket": "T-1"} if value is None else value
    return Pending("i-1", value, "decide", REFUND if response_schema is None else response_schema)


def test_matches_an_object_schema():
    assert schema.matches(pending())
    assert adapters.adapter_for(pending()) is schema


@pytest.mark.parametrize("response_schema", [None, {}, {"type": "object"}, {"properties": {}}])
def test_without_properties_the_interrupt_is_plain(response_schema):
    p = Pending("i", {"ticket": "T-1"}, "n", response_schema)
    assert not schema.matches(p)
    assert adapters.adapter_for(p) is plain


def test_the_form_is_typed_from_the_schema():
    review = adapters.describe(pending(), CONTEXT)
    assert (review.shape, review.title) == ("schema", "Input needed: refund")
    [proposal] = review.proposals
    assert proposal.title == "Refund"
    assert proposal.choices == ("answer",)
    assert dict(proposal.details) == {"ticket": "T-1"}
    assert proposal.description == ""
    fields = {f.name: f for f in proposal.form}
    assert [(f.name, f.kind, f.required) for f in fields.values()] == [
        ("amount", "number", True),
        ("currency", "enum", True),
        ("notify", "boolean", True),
        ("note", "text", False),
        ("reference", "integer", False),
    ]
    assert fields["currency"].options == ("EUR", "USD")
    assert fields["amount"].hint == "How much to refund"
    assert fields["note"].initial == ""


def test_a_non_dict_value_is_the_question():
    review = schema.describe(pending("How much should we refund?"), CONTEXT)
    [proposal] = review.proposals
    assert proposal.description == "How much should we refund?"
    assert proposal.details == ()


def test_a_schema_without_a_title_asks_for_an_answer():
    untitled = {"type": "object", "properties": {"ok": {"type": "boolean"}}}
    [proposal] = schema.describe(pending(response_schema=untitled), Context()).proposals
    assert proposal.title == "Answer"
    assert schema.describe(pending(response_schema=untitled), Context()).title == (
        "Input needed: agent"
    )


def test_a_long_value_is_kept_whole():
    review = schema.describe(pending({"ticket": "t" * 2001}), CONTEXT)
    assert review.long_text == "ticket:\n" + "t" * 2001


def test_the_filled_form_is_the_resume_value_the_schema_accepts():
    p = pending()
    review = adapters.describe(p, CONTEXT)
    raw = {"amount": "12.5", "currency": "EUR", "notify": "true", "note": "", "reference": ""}
    values, errors = forms.read(review.proposals[0].form, raw)
    assert errors == {}
    resumed = adapters.answer(p, review, Decision("answer", "U1", parameters=values), CONTEXT)
    assert resumed == Resume({"amount": 12.5, "currency": "EUR", "notify": True, "note": ""})
    assert TypeAdapter(Refund).validate_python(resumed.value) == Refund(
        amount=12.5, currency="EUR", notify=True
    )


def test_an_answer_with_no_values_is_an_empty_object():
    p = pending()
    assert schema.answer(p, schema.describe(p, CONTEXT), Decision("answer", "U1")) == Resume({})


def test_an_expiry_stops_the_run():
    p = pending()
    review = schema.describe(p, CONTEXT)
    for expire_as in ("reject", "approve"):
        late = Decision("expire", "scheduler", reason="no answer in 1h", expire_as=expire_as)
        assert adapters.answer(p, review, late, CONTEXT) == Stop(
            "Expired: no answer in 1h. The run did not continue."
        )
    assert schema.answer(p, review, Decision("expire", "scheduler")) == Stop(
        "Expired: nobody answered. The run did not continue."
    )


def test_only_answering_is_offered():
    review = schema.describe(pending(), CONTEXT)
    assert adapters.permits(review, Decision("answer", "U1", parameters={}))
    for forged in ("approve", "reject", "edit"):
        assert not adapters.permits(review, Decision(forged, "U1"))
