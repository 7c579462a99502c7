"""A modal's binding: what it was opened for, sealed for one person."""

from __future__ import annotations

import pytest

from bot.slack.listeners.binding import Bound, modal_key, seal, unseal

KEY = modal_key("xoxb-test", "secret")
ID = "0123456789abcdef"


def test_a_sealed_binding_opens_for_its_person_only():
    metadata = seal(KEY, ID, 4, "U1", "changes")
    assert unseal(KEY, metadata, "U1") == Bound(ID, 4, "changes")
    assert unseal(KEY, metadata, "U2") is None
    assert unseal(modal_key("xoxb-other", "secret"), metadata, "U1") is None


@pytest.mark.parametrize(
    "change",
    [
        lambda m: m.replace(":4:", ":5:"),  # another version
        lambda m: m.replace(ID, "f" * 16),  # another request
        lambda m: m.removesuffix(":changes") + ":approve",  # another button
        lambda m: m.removesuffix(":changes"),
        lambda m: ID,  # a bare id, as an unsealed modal carries
        lambda m: "",
    ],
)
def test_a_binding_changed_in_any_part_is_refused(change):
    assert unseal(KEY, change(seal(KEY, ID, 4, "U1", "changes")), "U1") is None


def test_the_key_comes_from_the_secrets_given():
    assert modal_key("a", None) == modal_key("a")
    assert modal_key("a") != modal_key("b")
