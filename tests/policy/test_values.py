"""The policy file's values (bot.policy.values), each checked in the words the user sees: the
annotated types a model declares its keys with accept what the README documents and refuse
the rest with a message that says what was expected."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError, field_validator

from bot.policy.values import Count, Duration, ExpireAs, Flag, Ids, not_null, refuse


class Section(BaseModel):
    approvers: Ids | None = None
    quorum: Count | None = None
    distinct: Flag | None = None
    remind_after: Duration = None
    expire_as: ExpireAs | None = None

    _not_null = field_validator("*", mode="before")(not_null)


def _refusal(**values) -> tuple[str, dict]:
    with pytest.raises(ValidationError) as raised:
        Section(**values)
    [error] = raised.value.errors()
    return error["msg"], error


def test_documented_values_are_taken():
    section = Section(
        approvers=["U0ANN", " S0TEAM "],
        quorum=2,
        distinct=True,
        remind_after="90m",
        expire_as="approve",
    )
    assert section.approvers == ("U0ANN", "S0TEAM")
    assert (section.quorum, section.distinct) == (2, True)
    assert section.remind_after == 90 * 60
    assert section.expire_as == "approve"


def test_approvers_may_be_one_comma_separated_string():
    assert Section(approvers="U0ANN, S0TEAM,").approvers == ("U0ANN", "S0TEAM")


def test_a_name_that_is_no_slack_id_is_refused():
    message, error = _refusal(approvers=["U0ANN", "alice"])
    assert message == ": alice is not a user id (U…) or user-group id (S…)"
    assert error["type"] == "policy_value" and error["loc"] == ("approvers",)


def test_approvers_that_are_no_list_are_refused():
    assert _refusal(approvers=5)[0] == " must be a list of user or user-group ids"


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
def test_a_count_is_a_whole_number_one_or_more(value):
    assert _refusal(quorum=value)[0] == " must be a whole number, 1 or more"


@pytest.mark.parametrize("value", ["yes", 1, "true"])
def test_a_flag_is_true_or_false(value):
    assert _refusal(distinct=value)[0] == " must be true or false"


@pytest.mark.parametrize("value", [None, "off", "never", "OFF"])
def test_a_duration_may_be_off(value):
    assert Section(remind_after=value).remind_after is None


def test_a_bad_duration_says_why():
    message, _ = _refusal(remind_after="soon")
    assert message.startswith(": ") and len(message) > 2


def test_expire_as_is_reject_or_approve():
    assert _refusal(expire_as="ignore")[0] == " must be reject or approve"


@pytest.mark.parametrize("key", ["approvers", "quorum", "distinct", "expire_as"])
def test_a_key_given_with_no_value_is_a_mistake_not_unset(key):
    message, _ = _refusal(**{key: None})
    assert message.startswith((" must", ":"))


def test_refuse_carries_where_it_points_and_its_kind():
    error = refuse(": bad", up=1, more=("x",), split=2, shape=True)
    assert error.type == "policy_shape"
    assert error.context == {"text": ": bad", "up": 1, "more": ("x",), "split": 2}
    assert refuse(" no").type == "policy_value"
