"""The values of the policy file, each checked in the words the user sees.

Every check raises :func:`refuse`, a pydantic error whose context says where the message points
and what it says; :func:`bot.policy.shape.explain` turns it into the one-line ``POLICY_FILE``
error. The annotated types (:data:`Ids`, :data:`Count`, :data:`Flag`, :data:`Duration`,
:data:`ExpireAs`) are what :mod:`bot.policy.model` declares its keys with.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ValidationInfo
from pydantic_core import PydanticCustomError

from bot.config import CHANNEL_HINT, CHANNEL_ID, SLACK_ID
from bot.config.durations import parse_duration
from bot.core.routing import DELIVERIES

# A conversation a card can go to: a public (C…) or private (G…) channel. Ids are upper case;
# channel names never are, so `finance` or `#ops` is refused.


def refuse(
    text: str, *, up: int = 0, more: tuple[Any, ...] = (), split: int = 0, shape: bool = False
) -> PydanticCustomError:
    """A refusal in the user's words. Where it points: the failing location, less ``up`` trailing
    parts, plus ``more``; ``split`` puts the last parts after a colon ("graphs.orders: buttons.x").
    ``text`` follows that place directly, so it starts with its own " " or ": "."""
    kind = "policy_shape" if shape else "policy_value"
    context = {"text": text, "up": up, "more": more, "split": split}
    return PydanticCustomError(kind, "{text}", context)


def _ids(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):  # "U0ANN, S0TEAM": a trailing comma is harmless
        ids = tuple(piece.strip() for piece in value.split(",") if piece.strip())
        if not ids:
            # Nobody named hands the decision to the requester: that must be written as [].
            raise refuse(": names nobody; write [] if only the requester is to decide")
    elif isinstance(value, list):
        ids = tuple(str(item).strip() for item in value)
        if any(not i for i in ids):
            raise refuse(
                ": an empty entry names nobody; remove it (an empty list [] means only the"
                " requester decides)"
            )
    else:
        raise refuse(" must be a list of user or user-group ids")
    # A name that is no id would mention or admit nobody, silently.
    bad = [i for i in ids if not SLACK_ID.match(i)]
    if bad:
        raise refuse(f": {', '.join(bad)} is not a user id (U…) or user-group id (S…)")
    return ids


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise refuse(" must be a whole number, 1 or more")
    return value


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise refuse(" must be true or false")
    return value


def _duration(value: Any) -> int | None:
    """Seconds; ``off``, ``never`` or nothing: none. YAML reads a bare ``off`` (or ``no``) as
    false, which means off here too."""
    if value is None or value is False or str(value).lower() in ("off", "never"):
        return None
    try:
        return parse_duration(str(value))
    except ValueError as exc:
        raise refuse(f": {exc}") from None


def _timer(value: Any) -> int | None:
    """``remind_after``, ``expire_after``: a duration, never 0 (due as soon as the card is
    posted: with ``expire_as: approve``, nobody would ever decide)."""
    seconds = _duration(value)
    if seconds == 0:
        raise refuse(": 0 would fall due as soon as the card is posted; write off for none")
    return seconds


MAX_REMEMBER = 30 * 86400  # a remembered approval lasts at most this long
MAX_REMEMBER_CHOICES = 5


def _durations(value: Any) -> tuple[int, ...]:
    """``remember``: one duration or a list of them, each from 1 minute to 30 days."""
    items = value if isinstance(value, list) else [value]
    if not items or len(items) > MAX_REMEMBER_CHOICES:
        raise refuse(f" must be a duration or a list of 1 to {MAX_REMEMBER_CHOICES} durations")
    seconds: list[int] = []
    for item in items:
        if item is None or isinstance(item, bool | list | dict):
            raise refuse(" must be a duration (such as 1h or 8h) or a list of them")
        try:
            duration = parse_duration(str(item))
        except ValueError as exc:
            raise refuse(f": {exc}") from None
        if not 60 <= duration <= MAX_REMEMBER:
            raise refuse(f": {item} is out of range (from 1m to 30d)")
        if duration in seconds:
            raise refuse(f": {item} is listed twice")
        seconds.append(duration)
    return tuple(sorted(seconds))


def _names(value: Any) -> tuple[str, ...]:
    """``remember_match``: argument names (a list of them)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise refuse(" must be a list of argument names, such as [to]")
    if any(not isinstance(item, str) or not item.strip() for item in items):
        raise refuse(" must be a list of argument names, such as [to]")
    return tuple(dict.fromkeys(item.strip() for item in items))


def _expire_as(value: Any) -> Any:
    if value not in ("reject", "approve"):
        raise refuse(" must be reject or approve")
    return value


def _channel(value: Any) -> str:
    text = str(value).strip() if value is not None else ""
    if not CHANNEL_ID.match(text):
        shown = f"{text!r} is not one" if text else "it is empty"
        raise refuse(f" must be a Slack channel id like C0123ABCD; {shown} ({CHANNEL_HINT})")
    return text


def _deliver(value: Any) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    ways = " or ".join(DELIVERIES)
    if not isinstance(items, list) or not items or any(i not in DELIVERIES for i in items):
        raise refuse(f" must be {ways}, or a list of them such as [channel, dm]")
    if len(set(items)) != len(items):
        raise refuse(" names a way twice")
    return tuple(items)


# Keys whose null is a mistake, not "unset" (``quorum:`` with the number forgotten): their
# checks run on None too, since pydantic accepts None for an optional field before any check.
NOT_NULL: dict[str, Callable[[Any], Any]] = {
    "approvers": _ids,
    "allow_self_approval": _flag,
    "quorum": _count,
    "rejections": _count,
    "distinct": _flag,
    "expire_as": _expire_as,
    "remember": _durations,
    "remember_match": _names,
    "channel": _channel,
    "deliver": _deliver,
}


def not_null(value: Any, info: ValidationInfo) -> Any:
    if value is None and info.field_name in NOT_NULL:
        NOT_NULL[info.field_name](value)
    return value


Ids = Annotated[tuple[str, ...], BeforeValidator(_ids)]
Count = Annotated[int, BeforeValidator(_count)]
Flag = Annotated[bool, BeforeValidator(_flag)]
Duration = Annotated[int | None, BeforeValidator(_duration)]
Timer = Annotated[int | None, BeforeValidator(_timer)]
Durations = Annotated[tuple[int, ...], BeforeValidator(_durations)]
Names = Annotated[tuple[str, ...], BeforeValidator(_names)]
Channel = Annotated[str, BeforeValidator(_channel)]
Deliver = Annotated[tuple[str, ...], BeforeValidator(_deliver)]
ExpireAs = Annotated[Literal["reject", "approve"], BeforeValidator(_expire_as)]
