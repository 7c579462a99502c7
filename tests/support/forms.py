"""A modal's inputs by field name: the bot gives them block_ids by place in the form
(``bot.slack.blocks.modals.param_block``), so a test names fields and these map the names."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from bot.domain.review import Review
from bot.slack.blocks import modals


def by_name(
    names: Iterable[str], values: Mapping[str, Any], call: int | None = None
) -> dict[str, Any]:
    """``values`` keyed by the block_ids of a form whose fields are ``names``, in that order
    (of call ``call`` in the batch modal): what Slack sends back for them."""
    order = list(names)
    return {modals.param_block(order.index(name), call): v for name, v in values.items()}


def block_of(review: Review, name: str, call: int | None = None) -> str:
    """The block_id field ``name`` of ``review``'s proposal (of call ``call`` of a batch; else
    its only one) comes back under."""
    form = review.proposals[call or 0].form
    return modals.param_block([f.name for f in form].index(name), call)
