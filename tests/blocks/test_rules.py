"""Remembered approvals in Slack: the card's "Approve, and don't ask again for …" menu (checked
with the fake's copy of Slack's rules for select menus), the thread's one line, ``/agent rules``
and App Home's list, with hostile argument values kept inert."""

from __future__ import annotations

from dataclasses import replace

from bot.core import outcomes
from bot.domain.models import Decision
from bot.slack.blocks import card, rules
from bot.slack.blocks.decided import outcome_line
from bot.slack.blocks.home import home_view
from bot.store.rules import Rule
from tests.fakes.blockkit import validate_message_blocks, validate_view
from tests.support.approvals import REQUESTER, action
from tests.support.cards import blocks_text
from tests.support.mrkdwn import HOSTILE, live_tokens

NOW = 1_700_000_000.0


def offering(*seconds: int):
    approval = action("Mail the numbers", {"to": "ops@example.com"})
    assert approval.review is not None
    return replace(approval, review=replace(approval.review, remember=seconds))


def rule(**fields) -> Rule:
    base = {
        "id": 12,
        "graph": "action",
        "action": "send_email",
        "step": "",
        "requester": REQUESTER,
        "channel": "C0GEN",
        "match": '{"to":"ops@example.com"}',
        "created_by": "U0BOB",
        "created_at": NOW,
        "expires_at": NOW + 3600,
        "approval_id": "a1b2c3d4",
        "thread_id": "t" * 32,
    }
    return Rule(**{**base, **fields})


def menu(blocks):
    [actions] = [b for b in blocks if b["type"] == "actions"]
    return [e for e in actions["elements"] if e["action_id"] == card.REMEMBER]


def test_the_card_offers_the_policys_durations_in_a_menu_slack_accepts():
    blocks = card.pending_card(offering(3600, 28800))
    assert validate_message_blocks(blocks) == []
    [select] = menu(blocks)
    assert select["type"] == "static_select"
    assert select["placeholder"]["text"] == "Approve, and don't ask again for…"
    assert [(o["text"]["text"], o["value"]) for o in select["options"]] == [
        ("1 hour", "a1b2c3d4:1:3600"),
        ("8 hours", "a1b2c3d4:1:28800"),
    ]
    assert len(select["confirm"]["text"]["text"]) <= 300


def test_no_menu_without_an_offer_nor_on_a_decided_card():
    assert menu(card.pending_card(offering())) == []
    approved = replace(offering(3600), status="approved", decision=Decision("approve", "U0BOB"))
    assert not [b for b in card.decided_card(approved) if b["type"] == "actions"]


def test_the_fake_refuses_what_slack_refuses_of_a_select_menu():
    [select] = menu(card.pending_card(offering(3600)))
    mrkdwn_option = {**select["options"][0], "text": {"type": "mrkdwn", "text": "1 hour"}}
    broken = [
        {**select, "options": [mrkdwn_option]},
        {**select, "options": [select["options"][0]] * 101},
        {**select, "option_groups": []},
        {**select, "placeholder": {"type": "mrkdwn", "text": "x"}},
        {**select, "initial_option": {"text": {"type": "plain_text", "text": "x"}, "value": "y"}},
        {**select, "options": [{**select["options"][0], "value": "v" * 151}]},
        {**select, "confirm": {**select["confirm"], "text": {"type": "mrkdwn", "text": "t" * 301}}},
    ]
    for element in broken:
        blocks = [{"type": "actions", "block_id": "b", "elements": [element]}]
        assert validate_message_blocks(blocks) != [], element


def test_a_rule_approving_a_request_says_so_in_one_line():
    approval = offering(3600)
    decided = replace(
        approval,
        status="approved",
        decided_by="U0BOB",
        decided_at=NOW,
        decision=Decision("approve", "U0BOB", via="rule", rule=12),
    )
    line = rules.by_rule_line(decided, rule())
    assert "\n" not in line
    assert "approved by rule #12, made by <@U0BOB>" in line
    assert "`/agent rules revoke 12`" in line
    assert outcome_line(decided).startswith("✅ *Approved* by rule #12 (made by <@U0BOB>)")
    made = replace(decided, decision=Decision("approve", "U0BOB", rule=12))
    assert outcome_line(made).endswith("and remembered as rule #12")


def test_rules_are_listed_with_hostile_values_kept_inert():
    hostile = rule(match='{"to":' + __import__("json").dumps(HOSTILE) + "}")
    text = rules.rules_text([hostile, rule(id=13, action="", graph="draft", match="{}")])
    assert text.startswith("*2 remembered approvals in force*")
    assert "*#12* `send_email` (action) for <@U0REQ> from <#C0GEN>, to = " in text
    assert "*#13* `draft` for <@U0REQ> from <#C0GEN>: made by" in text
    assert live_tokens(text, trusted_users=(REQUESTER, "U0BOB")) == []
    assert rules.rules_text([]) == "No remembered approvals are in force for you."


def test_revoke_sentences():
    revoked = outcomes.Revoke(outcomes.RevokeKind.REVOKED, 12, rule())
    assert rules.revoke_sentence(revoked).startswith("Revoked rule #12: `send_email`")
    refused = outcomes.Revoke(outcomes.RevokeKind.REFUSED, 12, rule())
    assert rules.revoke_sentence(refused) == (
        "Nothing changed: only <@U0BOB>, who made rule #12, or an admin may revoke it."
    )
    missing = outcomes.Revoke(outcomes.RevokeKind.NOT_FOUND, 99)
    assert "no remembered approval #99" in rules.revoke_sentence(missing)


def test_app_home_lists_rules_with_revoke_where_the_viewer_may():
    many = [rule(id=n) for n in range(1, 14)]
    view = home_view([], 0, [], rules.home_blocks(many, {1, 2}))
    assert validate_view(view) == []
    revokes = [b["accessory"]["value"] for b in view["blocks"] if "accessory" in b]
    assert revokes == ["1", "2"]
    assert "…and 3 more" in blocks_text(view["blocks"])
    assert rules.home_blocks([], set()) == []
