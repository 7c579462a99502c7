"""Pydantic's view of a policy file, told as one line naming the file, the dotted key and the
closest known name.

A misspelt key is not an error YAML can see: ``actions: {send_email: {quorom: 2}}`` reads fine,
and a reader that looks up ``quorum`` finds nothing and applies the default, so the two-person
rule is silently gone. :class:`~bot.policy.model.PolicyModel` forbids every key it does not
declare; :func:`validate` reads a file's mapping with it and, when it refuses, raises one
:class:`~bot.config.ConfigError`: a misplaced or misspelt section or key before any bad value
(the typo is the news, not what its neighbour holds)::

    POLICY_FILE: policy.yaml: default: unknown section; did you mean defaults?
    (known: defaults, graphs, actions)
    POLICY_FILE: policy.yaml: graphs.g.stages[1].aprovers: unknown stage key; did you mean
    approvers? (known: name, approvers, allow_self_approval, quorum, rejections, at)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from bot.config import ConfigError
from bot.policy.errors import problem, unknown
from bot.policy.model import GraphSection, PolicyModel, Section, model_at

SHAPE = ("extra_forbidden", "policy_shape")  # a key or section in the wrong place


def validate(data: Mapping[str, Any], path: str | None) -> PolicyModel:
    """The file's mapping as the model, or the first thing wrong with it as a ConfigError."""
    try:
        return PolicyModel.model_validate(data)
    except ValidationError as refused:
        details = refused.errors()
        raise explain(first_misplaced(details) or details[0], path) from None


def check_shape(data: Mapping[str, Any], path: str | None) -> None:
    """Raise at the first section or key the file should not have; leave its values alone
    (for examples whose values are the reader's own, such as the README's)."""
    try:
        PolicyModel.model_validate(data)
    except ValidationError as refused:
        misplaced = first_misplaced(refused.errors())
        if misplaced:
            raise explain(misplaced, path) from None


def first_misplaced(details: list[ErrorDetails]) -> ErrorDetails | None:
    """The misplaced key a reader meets first: an unknown section before anything inside one,
    then section by section as the file has them, each one's own keys before its stages'."""
    sections: list[tuple[Any, ...]] = []

    def rank(detail: ErrorDetails) -> tuple[int, int, int]:
        loc = tuple(detail["loc"])
        if len(loc) == 1:
            return (0, 0, 0)
        owner = loc[:1] if loc[0] == "defaults" else loc[:2]
        if owner not in sections:
            sections.append(owner)
        return (1, sections.index(owner), len(loc))

    return min((d for d in details if d["type"] in SHAPE), key=rank, default=None)


def explain(detail: ErrorDetails, path: str | None) -> ConfigError:
    loc = tuple(detail["loc"])
    if detail["type"] == "extra_forbidden":
        key = str(loc[-1])
        model = model_at(loc[:-1])
        if model is Section and key in GraphSection.model_fields:
            text = f"{key} is a graph's setting: it belongs under graphs.<name>"
        else:
            text = unknown(key, model.known(), model.WHAT)
        return problem(path, dotted(loc), text)
    context = detail.get("ctx") or {}
    if detail["type"] not in SHAPE[1:] and detail["type"] != "policy_value":
        return problem(path, dotted(loc), detail["msg"])  # a check the validators do not word
    place = loc[: len(loc) - context["up"]] + tuple(context["more"])
    split = context["split"]
    where = dotted(place)
    if split:
        where = f"{dotted(place[:-split])}: {dotted(place[-split:])}"
    return ConfigError(f"POLICY_FILE: {path}: {where}{context['text']}")


def dotted(loc: tuple[Any, ...]) -> str:
    """``("graphs", "g", "stages", 1, "at")`` -> ``graphs.g.stages[1].at``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text
