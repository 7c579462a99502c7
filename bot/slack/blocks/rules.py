"""Remembered approvals in Slack's words: the card's "Approve, and don't ask again for …" menu,
the line a rule leaves in a run's thread, ``/agent rules`` and the App Home list. Pure: records
in, Block Kit and mrkdwn out."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from bot.core import outcomes
from bot.domain.models import Approval
from bot.slack.blocks.decided import when
from bot.slack.blocks.proposals import kind_of, review_of
from bot.slack.blocks.text import escape, safe
from bot.store.rules import Rule

REVOKE = "rule.revoke"  # App Home's button; its value: the rule's id
MAX_HOME_RULES = 10

Block = dict[str, Any]


def scope_text(rule: Rule) -> str:
    """What a rule covers: "`send_email` for <@U1> from <#C1>, to = ops@example.com"."""
    what = f"`{safe(rule.action or rule.graph, 80)[0]}`"
    if rule.action:
        what += f" ({safe(rule.graph, 60)[0]})"
    elif rule.step:
        what += f" at `{safe(rule.step, 60)[0]}`"
    values = ", ".join(
        f"{safe(str(k), 40)[0]} = {safe(v if isinstance(v, str) else str(v), 120)[0]}"
        for k, v in rule.arguments.items()
    )
    return f"{what} for <@{rule.requester}> from <#{rule.channel}>" + (
        f", {values}" if values else ""
    )


def made_by(rule: Rule) -> str:
    """ "rule #12, made by <@U1> at …" """
    return f"rule #{rule.id}, made by <@{rule.created_by}> at {when(rule.created_at)}"


def by_rule_line(approval: Approval, rule: Rule) -> str:
    """The run's thread, when a rule answered a request: one line, no card."""
    title = review_of(approval).proposals[0].title if review_of(approval).proposals else ""
    call = f" `{safe(title, 80)[0]}`" if title else ""
    return (
        f"☑️ {escape(kind_of(approval)).capitalize()}{call} approved by {made_by(rule)} "
        f"(no card: remembered until {when(rule.expires_at)}; `/agent rules revoke {rule.id}` "
        "stops it)"
    )


def rule_line(rule: Rule) -> str:
    return (
        f"• *#{rule.id}* {scope_text(rule)}: made by <@{rule.created_by}> "
        f"{when(rule.created_at)}, until {when(rule.expires_at)}, used {rule.uses} "
        f"time{'' if rule.uses == 1 else 's'}"
    )


def rules_text(rules: Sequence[Rule]) -> str:
    """``/agent rules``: the remembered approvals in force the person may see."""
    if not rules:
        return "No remembered approvals are in force for you."
    lines = [f"*{len(rules)} remembered approval{'' if len(rules) == 1 else 's'} in force*:"]
    lines.extend(rule_line(rule) for rule in rules)
    lines.append("Stop one with `/agent rules revoke` and its number (its maker or an admin).")
    return "\n".join(lines)


def revoke_sentence(outcome: outcomes.Revoke) -> str:
    if outcome.kind == outcomes.RevokeKind.REVOKED and outcome.rule is not None:
        return f"Revoked rule #{outcome.rule_id}: {scope_text(outcome.rule)} asks again."
    if outcome.kind == outcomes.RevokeKind.REFUSED and outcome.rule is not None:
        return (
            f"Nothing changed: only <@{outcome.rule.created_by}>, who made rule "
            f"#{outcome.rule_id}, or an admin may revoke it."
        )
    return f"There is no remembered approval #{outcome.rule_id} in force that you can see."


def home_blocks(rules: Sequence[Rule], revocable: Collection[int]) -> list[Block]:
    """App Home's list of remembered approvals, each with Revoke where the viewer may."""
    if not rules:
        return []
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Remembered approvals"}}
    ]
    for rule in rules[:MAX_HOME_RULES]:
        section: Block = {
            "type": "section",
            "text": {"type": "mrkdwn", "text": rule_line(rule)[:3000], "verbatim": True},
        }
        if rule.id in revocable:
            section["accessory"] = {
                "type": "button",
                "text": {"type": "plain_text", "text": "Revoke"},
                "action_id": REVOKE,
                "value": str(rule.id),
                "style": "danger",
            }
        blocks.append(section)
    if len(rules) > MAX_HOME_RULES:
        more = len(rules) - MAX_HOME_RULES
        blocks.append(
            {
                "type": "context",
                "elements": [
                    {"type": "mrkdwn", "text": f"…and {more} more: `/agent rules` lists them all."}
                ],
            }
        )
    return blocks
