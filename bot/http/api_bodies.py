"""The HTTP approval API's request bodies read into their models (:mod:`bot.http.api_models`).
A body it cannot take raises :class:`Invalid` naming the field (answered 422); a token naming
someone it may not act for raises :class:`Forbidden` (403). An edit's ``values`` are checked
here against the request's own form, which no static schema knows."""

from __future__ import annotations

import json
from typing import Any, TypeVar, get_args

from pydantic import ValidationError
from starlette.requests import Request

from bot.agents import adapters, forms
from bot.config.principals import Principal
from bot.domain.models import Approval, Decision
from bot.http.api_models import Body, DecisionBody
from bot.http.bodies import TooLarge, json_object, read_capped

B = TypeVar("B", bound=Body)
MAX_BODY = 100_000


class Invalid(Exception):
    """A body the API cannot take: answered 422, naming the field."""

    status = 422

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(problem)
        self.field = field


class Forbidden(Invalid):
    """The token may not do this (name another user without ``on_behalf``): answered 403."""

    status = 403


def acting(principal: Principal, named: str | None, field: str) -> str:
    """The Slack user a call acts as; naming someone else needs an ``on_behalf`` token."""
    user = principal.acts_as(named)
    if user is None:
        raise Forbidden(
            field,
            f"this token acts as <@{principal.user}> only; naming another person needs a "
            "token configured with on_behalf",
        )
    return user


def parse(model: type[B], data: dict[str, Any]) -> B:
    """``data`` read into ``model``, or :class:`Invalid` naming the first field it refuses."""
    try:
        return model.model_validate(data)
    except ValidationError as refused:
        error = refused.errors()[0]
    if not error["loc"]:
        raise Invalid("body", "the body must be a JSON object")
    field = str(error["loc"][0])
    if error["type"] == "string_too_long":
        problem = f"{field} must be at most {error['ctx']['max_length']} characters"
    elif field in model.refusals:
        problem = model.refusals[field]
    else:  # a field whose choices are the deployment's (the graphs)
        choices = get_args(model.model_fields[field].annotation)
        problem = f"{field} must be one of: {', '.join(map(str, choices))}"
    raise Invalid(field, problem)


def decision_of(approval: Approval, body: DecisionBody, by: str, principal: Principal) -> Decision:
    """The decision, the principal's: through the API, and for whom when it names someone."""
    door: dict[str, Any] = {"via": "api", "version": body.version}
    if by != principal.user:
        door["on_behalf_of"] = principal.name
        door["hand"] = principal.user
    reason = body.reason
    if body.decision != "edit":
        return Decision(body.decision, by, reason=reason[:2000] if reason else None, **door)
    review = approval.review
    if review is None or len(review.proposals) != 1 or not review.proposals[0].form:
        raise Invalid("decision", "this request cannot be edited; approve or reject it")
    values = body.values
    if values is None:
        raise Invalid("values", "an edit needs `values`: the edited fields by name")
    form = review.proposals[0].form
    unknown = set(values) - {f.name for f in form}
    if unknown:
        raise Invalid(f"values.{sorted(unknown)[0]}", "no such field on this request")
    raw = {
        name: value if isinstance(value, str) or value is None else json.dumps(value)
        for name, value in values.items()
    }
    read, errors = forms.read(form, {f.name: raw.get(f.name, forms.initial_text(f)) for f in form})
    # What the graph's own schema would refuse at the resume, as the Slack form says it.
    errors = errors or forms.refused_by(adapters.form_schema(approval.payload, review), read)
    if errors:
        name, problem = next(iter(errors.items()))
        raise Invalid(f"values.{name}", problem)
    if review.shape == "draft":
        return Decision("edit", by, text=read.get("text"), **door)
    return Decision("edit", by, parameters=read, **door)


async def read_body(request: Request) -> dict[str, Any]:
    try:
        raw = await read_capped(request, MAX_BODY)  # bounded before it is read, not after
    except TooLarge as big:
        raise Invalid("body", str(big)) from None
    body = json_object(raw)
    if body is None:
        raise Invalid("body", "the body must be a JSON object")
    _text_only(body, "body")
    return body


def _text_only(value: Any, where: str) -> None:
    """Refuse text no column, Slack message or JSON answer can hold: a lone surrogate (a
    ``\\ud800`` escape, which ``json.loads`` lets through) or a NUL character (PostgreSQL's
    text refuses it). A loop, not recursion: a body may nest as deep as JSON parses."""
    left: list[tuple[Any, str]] = [(value, where)]
    while left:
        value, where = left.pop()
        if isinstance(value, str):
            if "\x00" in value or not _encodable(value):
                raise Invalid(where, "text must be valid Unicode, without NUL characters")
        elif isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key or not _encodable(key):  # named by where it is: the key itself
                    raise Invalid(where, "text must be valid Unicode, without NUL characters")
                name = key if where == "body" else f"{where}.{key}"
                left.append((item, name))
        elif isinstance(value, list):
            left += [(item, where) for item in value]


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
