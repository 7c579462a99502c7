"""The HTTP approval API's request bodies read into typed values. A body it cannot take raises
:class:`Invalid` naming the field (answered 422); a token naming someone it may not act for
raises :class:`Forbidden` (403)."""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request

from bot.agents import forms
from bot.core.models import Approval, Decision
from bot.core.principals import Principal
from bot.http.bodies import TooLarge, read_capped

USER = re.compile(r"[UW][A-Z0-9]{2,}")  # always fullmatch: `$` would let "U1\n" through
CHANNEL = re.compile(r"[CGD][A-Z0-9]{2,}")
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


def decision_of(
    approval: Approval, kind: str, by: str, body: dict[str, Any], principal: Principal
) -> Decision:
    """The decision, the principal's: through the API, and for whom when it names someone."""
    # Through the API, and the principal named when it acts for someone else.
    door: dict[str, Any] = {"via": "api", "version": _version(body)}
    if by != principal.user:
        door["on_behalf_of"] = principal.name
    reason = body.get("reason")
    if reason is not None and not isinstance(reason, str):
        raise Invalid("reason", "reason must be a string")
    if kind != "edit":
        return Decision(kind, by, reason=reason[:2000] if reason else None, **door)
    review = approval.review
    if review is None or len(review.proposals) != 1 or not review.proposals[0].form:
        raise Invalid("decision", "this request cannot be edited; approve or reject it")
    values = body.get("values")
    if not isinstance(values, dict):
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
    if errors:
        name, problem = next(iter(errors.items()))
        raise Invalid(f"values.{name}", problem)
    if review.shape == "draft":
        return Decision("edit", by, text=read.get("text"), **door)
    return Decision("edit", by, parameters=read, **door)


def _version(body: dict[str, Any]) -> int:
    """The version of the request the caller decides on (``GET`` shows it); a vote for an
    older version than the request's is refused. Omitted: the first version."""
    version = body.get("version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise Invalid("version", "version must be a whole number, 1 or more")
    return version


async def read_body(request: Request) -> dict[str, Any]:
    try:
        raw = await read_capped(request, MAX_BODY)  # bounded before it is read, not after
    except TooLarge as big:
        raise Invalid("body", str(big)) from None
    try:
        body = json.loads(raw or b"null")
    except ValueError:
        raise Invalid("body", "the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise Invalid("body", "the body must be a JSON object")
    return body


def text_field(body: dict[str, Any], field: str, limit: int) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise Invalid(field, f"{field} is required: a non-empty string")
    if len(value) > limit:
        raise Invalid(field, f"{field} must be at most {limit} characters")
    return value.strip()


def id_field(body: dict[str, Any], field: str, pattern: re.Pattern[str], what: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Invalid(field, f"{field} is required: {what}")
    return value


def optional_id(
    body: dict[str, Any], field: str, pattern: re.Pattern[str], what: str
) -> str | None:
    if body.get(field) is None:
        return None
    value = body[field]
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise Invalid(field, f"{field} must be {what}")
    return value
