"""A remembered approval's scope, and a rule made with it, for the tests of rules in the database
(tests/db/test_rules.py) and of their revocation (tests/core/test_rule_revokes.py)."""

from __future__ import annotations

from typing import Any

from bot.domain.models import Decision
from bot.store.repository import Store

SCOPE = {
    "graph": "action",
    "action": "send_email",
    "step": "",
    "requester": "U0REQ",
    "channel": "C0",
    "match": '{"to":"ops@example.com"}',
}


def remember(store: Store, approval_id: str, by: str = "U0BOB") -> Any:
    """``by`` approves the request and asks not to be asked again for an hour: the claim and
    the rule made, or None when the claim lost."""
    decision = Decision("approve", by, remember=3600)
    return store.claim_remembering(approval_id, decision, SCOPE, store.clock() + 3600)
