"""The HTTP approval API's bodies and answers as pydantic models: what the API validates a body
with is what its OpenAPI document (:mod:`bot.http.api_spec`) says, because the document is
generated from these very models.

Patterns are written to mean the same in every regex dialect a reader of the document may use
(ECMA-262, Python's ``re``, Java, Rust): ``$`` also matches before a final newline in Python and
Java, so an id ends with :data:`END` instead, and "not blank" names the whitespace
``str.strip`` removes rather than ``\\s``, whose meaning differs between dialects. The models
run those patterns with Python's ``re`` (the Rust engine has no lookahead), in strict mode: a
JSON string is never taken for a number, nor ``true`` for 1.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from bot.config.principals import USER

END = r"(?![\s\S])"  # nothing follows: the end of the string, in every dialect
USER_ID = rf"^{USER.pattern}{END}"  # the very check API tokens' users pass (bot.config.principals)
CHANNEL_ID = rf"^[CGD][A-Z0-9]{{2,}}{END}"
# One character str.strip() keeps: not one of what str.isspace() calls whitespace (a test
# holds the list to Python's).
NOT_BLANK = (
    r"[^\u0009-\u000d\u001c-\u0020\u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
)
MAX_REQUEST = 4000


def _whole_number(value: Any) -> Any:
    """JSON has one kind of number: ``1.0`` is the integer 1, as JSON Schema says."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


UserId = Annotated[str, Field(pattern=USER_ID)]
ChannelId = Annotated[str, Field(pattern=CHANNEL_ID)]
RequestText = Annotated[
    str, Field(max_length=MAX_REQUEST, pattern=NOT_BLANK), AfterValidator(str.strip)
]
Version = Annotated[int, Field(ge=1), BeforeValidator(_whole_number)]
Choice = Literal["approve", "reject", "edit"]


class Body(BaseModel):
    """A request body (or query) the API reads. ``refusals`` words the 422 for each field."""

    model_config = ConfigDict(strict=True, regex_engine="python-re")
    refusals: ClassVar[dict[str, str]] = {}


class StartRun(Body):
    """Start a run (`POST /api/runs`)."""  # a deployment's subclass lists its graphs: start_run

    request: RequestText = Field(description="What the run is asked to do, as `/agent` takes it")
    requester: UserId | None = Field(
        None,
        description="Whose run it is. Default: the token's user; another user only with an "
        "`on_behalf` token",
    )
    channel: ChannelId = Field(description="The Slack channel the run is asked from (C…)")
    graph: str = Field(description="Which graph runs")

    refusals: ClassVar[dict[str, str]] = {
        "request": "request is required: a non-empty string",
        "requester": "requester must be a Slack user id (U…)",
        "channel": "channel is required: a Slack channel id (C…)",
    }


def start_run(graphs: list[str], default: str) -> type[StartRun]:
    """:class:`StartRun` taking only these graphs, ``default`` when none is named."""
    choice: Any = Literal[tuple(graphs)]
    graph = (choice, Field(default, description="Which graph runs. Default: " + default))
    return create_model("StartRun", __base__=StartRun, __doc__=StartRun.__doc__, graph=graph)


class DecisionBody(Body):
    """Approve, reject or edit what a run waits for (`POST /api/runs/{run}/decision`)."""

    decision: Choice
    by: UserId | None = Field(
        None,
        description="The Slack user deciding. Default: the token's user; another user only "
        "with an `on_behalf` token",
    )
    request: str | None = Field(None, description="Which request, when several wait")
    reason: str | None = Field(None, description="Why; kept to its first 2000 characters")
    version: Version = Field(
        1,
        description="The version of the request decided on, as GET shows it; a vote for an "
        "older one is refused",
    )
    values: dict[str, Any] | None = Field(
        None,
        description="An edit: the edited fields by name (as GET's `fields` lists them); "
        "fields left out keep their proposed value",
    )

    refusals: ClassVar[dict[str, str]] = {
        "decision": "decision must be approve, reject or edit",
        "by": "by must be the Slack user id (U…) of the person deciding",
        "request": "request must be a request id (a string)",
        "reason": "reason must be a string",
        "version": "version must be a whole number, 1 or more",
        "values": "values must be an object: the edited fields by name",
    }


class ReadQuery(Body):
    """The query of `GET /api/runs/{run}`."""

    as_: UserId | None = Field(
        None,
        alias="as",
        description="An `on_behalf` token: read as this Slack user (default: the token's own)",
    )

    refusals: ClassVar[dict[str, str]] = {"as": "as must be a Slack user id (U…)"}


# Answers ------------------------------------------------------------------------------------
class Error(BaseModel):
    error: str = Field(description="What went wrong, for a person to read")


class FieldError(Error):
    """A body (or query) the API cannot take (422), or a token naming someone it may not act
    for (403)."""

    field: str = Field(description="The field to fix: `body`, a field, or `values.<name>`")


class Busy(Error):
    """The run is carrying out a step; nothing changed. Send the same call again."""

    retry: Literal[True]


class RunAnswer(BaseModel):
    run: str = Field(description="The run id")
    short: str = Field(description="Its first 8 characters, as Slack shows it")
    graph: str
    status: str
    requester: str
    request: str
    result: str | None
    created_at: float = Field(description="Unix time")


class PendingRequest(BaseModel):
    request: str = Field(description="The request id, for `request` in a decision")
    kind: str
    title: str
    choices: list[str]
    fields: list[str] = Field(description="What an edit's `values` may hold")
    stage: str | None
    version: int
    who_may_decide: str = Field(description="As Slack mentions")
    created_at: float


class DecidedRequest(BaseModel):
    request: str
    status: str
    by: str | None
    approvers: list[str] | None
    reason: str | None
    via: str | None = Field(description="`slack`, `api` or `scheduler`")
    on_behalf_of: str | None = Field(description="The API token's name, when it named `by`")
    at: float | None


class TimelineEvent(BaseModel):
    at: float
    event: str
    actor: str
    request: str | None
    detail: dict[str, Any] = Field(default_factory=dict)


class RunDetail(RunAnswer):
    pending: list[PendingRequest]
    decided: list[DecidedRequest]
    timeline: list[TimelineEvent]


class Decided(BaseModel):
    decided: Literal[True]
    request: str
    status: str


class Counted(BaseModel):
    """A vote counted; more signatures are needed."""

    decided: Literal[False]
    request: str
    status: Literal["pending"]
    note: str


class NotDecided(Error):
    decided: Literal[False]
    request: str


class AgentRefused(NotDecided):
    """The decision won, and the graph's own code refused it: the run did not go past the
    pause, and the request is open again (pending) for whoever may decide it."""

    status: Literal["pending"]
    refused: str = Field(description="Why the agent refused it, in its own words")
    version: int = Field(description="The request's version now, to decide on again")
