"""Remembered approvals end to end, with the bot in this process: "Approve, and don't ask again
for 1 hour" on an email card; the next email to the same recipient runs with no card and is
audited as the rule's; another recipient is asked; a revoked or expired rule asks again; and
making a rule is a decision door like Approve (stale version, forged id, someone who may not
approve, a duration the policy does not offer: refused, nothing made)."""

from __future__ import annotations

import json

import pytest

from bot.slack.blocks import card as ids
from tests.support import slack_requests as sr
from tests.support.cards import Card, blocks_text, current, has_buttons, told, wait_cards
from tests.support.databases import sqlite_unless_asked  # noqa: F401 - database_url
from tests.support.faults import killed_after
from tests.support.operations import ask
from tests.support.pgproxy import CuttingProxy
from tests.support.races import race

REQ, BOB, EVE, ADMIN = "U0REQ", "U0BOB", "U0EVE", "U0ADMIN"
HOUR = 3600
POLICY = """
actions:
  send_email:
    remember: [1h, 8h]
    remember_match: [to]
"""


@pytest.fixture
def remember_bot(bot_in_process, fake_smtp, tmp_path):
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)

    def start(**env: str):
        base = {"APPROVERS": BOB, "ADMINS": ADMIN, "POLICY_FILE": str(policy)}
        return bot_in_process(
            SMTP_URL=fake_smtp.url, EMAIL_FROM="agent@example.com", **{**base, **env}
        )

    return start


def email(bot, to: str = "ops@example.com") -> None:
    proposal = {
        "action_type": "send_email",
        "description": "Mail the status",
        "parameters": [
            {"name": "to", "value": to},
            {"name": "subject", "value": "Status"},
            {"name": "body", "value": "All green"},
        ],
        "risk_level": "low",
    }
    assert bot.command("[action] " + json.dumps(proposal)).status_code == 200


def next_card(fake_slack, seen: int) -> Card:
    return wait_cards(fake_slack, seen + 1)[seen]


def cards_posted(fake_slack) -> int:
    return len(
        [c for c in fake_slack.calls("chat.postMessage") if "decide:" in json.dumps(c.params)]
    )


def remember(bot, card: Card, user: str, seconds: int = HOUR, value: str | None = None):
    """Pick "don't ask again for …" on the card, as Slack sends it from the card's message."""
    blocks = current(bot.slack, card)["blocks"]
    value = value or sr.menu_value(blocks, card.approval_id, ids.REMEMBER, seconds)
    assert value is not None, blocks_text(blocks)
    body = sr.select_body(
        ids.REMEMBER, card.approval_id, user, value, card.channel, card.ts, blocks
    )
    return bot.send(body)


def by_rule_lines(fake_slack) -> list[str]:
    said = [str(c.params.get("text") or "") for c in fake_slack.calls("chat.postMessage")]
    return [text for text in said if "approved by rule #" in text]


def audit(bot) -> list[tuple[str, str, dict]]:
    rows = bot.deps.db.fetch_all("SELECT * FROM audit ORDER BY at")
    return [(r["event"], r["actor"], json.loads(r["detail"])) for r in rows]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_remembered_approval_runs_matching_calls_until_revoked_or_expired(
    database_url, remember_bot, fake_slack, fake_smtp
):
    bot = remember_bot()
    email(bot)
    first = next_card(fake_slack, 0)
    menu = [e for b in first.blocks if b["type"] == "actions" for e in b["elements"]]
    assert [o["text"]["text"] for o in menu[1]["options"]] == ["1 hour", "8 hours"]

    assert remember(bot, first, BOB).status_code == 200
    fake_smtp.wait_for_messages(1)
    bot.settle()
    decided = blocks_text(current(fake_slack, first)["blocks"])
    assert "Approved* by <@U0BOB>" in decided and "remembered as rule #1" in decided
    assert not has_buttons(current(fake_slack, first))
    made = [d for e, a, d in audit(bot) if e == "rule_created"]
    assert made and made[0]["rule"] == 1 and made[0]["match"] == {"to": "ops@example.com"}

    # The same email again: no card, sent, audited as the rule's, one line where it started.
    email(bot)
    fake_smtp.wait_for_messages(2)
    bot.settle()
    assert cards_posted(fake_slack) == 1
    [line] = by_rule_lines(fake_slack)
    assert "approved by rule #1, made by <@U0BOB>" in line
    [(actor, detail)] = [(a, d) for e, a, d in audit(bot) if e == "approved" and "rule_by" in d]
    assert (actor, detail["via"], detail["rule"], detail["rule_by"]) == (BOB, "rule", 1, BOB)
    assert "*#1* `send_email` (action) for <@U0REQ>" in ask(fake_slack, bot, "rules", BOB)
    run = bot.deps.store.runs_of(REQ)[0]
    status = ask(fake_slack, bot, f"status {run.thread_id[:8]}", BOB)
    assert "✅ *Approved* by rule #1 (made by <@U0BOB>)" in status
    assert "*approved* by rule #1 (made by <@U0BOB> at " in status

    # Another recipient is not covered: it asks.
    email(bot, to="cfo@example.com")
    other = next_card(fake_slack, 1)
    assert "cfo@example.com" in other.text and len(fake_smtp.messages) == 2

    # Only its maker (or an admin) may revoke it; then the same email asks again.
    refused = ask(fake_slack, bot, "rules revoke 1", REQ)
    assert refused == "Nothing changed: only <@U0BOB>, who made rule #1, or an admin may revoke it."
    assert ask(fake_slack, bot, "rules revoke 1", BOB).startswith("Revoked rule #1:")
    email(bot)
    again = next_card(fake_slack, 2)
    assert "ops@example.com" in again.text
    assert [e for e, _, _ in audit(bot)].count("rule_revoked") == 1

    # A new rule for an hour; after the hour, the same email asks again.
    assert remember(bot, again, BOB).status_code == 200
    fake_smtp.wait_for_messages(3)
    bot.settle()
    email(bot)
    fake_smtp.wait_for_messages(4)
    bot.settle()
    assert cards_posted(fake_slack) == 3
    bot.clock.advance(HOUR + 1)
    email(bot)
    expired = next_card(fake_slack, 3)
    assert "ops@example.com" in expired.text
    assert len(fake_smtp.messages) == 4
    assert ask(fake_slack, bot, "rules", BOB) == "No remembered approvals are in force for you."


def test_making_a_rule_is_refused_like_an_approve(remember_bot, fake_slack, fake_smtp):
    bot = remember_bot()
    email(bot)
    card = next_card(fake_slack, 0)
    value = f"{card.approval_id}:1:{HOUR}"

    # Someone who may not approve it.
    assert remember(bot, card, EVE).status_code == 200
    assert "may decide" in told(fake_slack, EVE)[0] or "decide" in told(fake_slack, EVE)[0]
    # Each click is worked on in the background: each is let finish before the next, so that
    # the notes come in the clicks' order.
    # A version the card never showed.
    assert remember(bot, card, BOB, value=f"{card.approval_id}:2:{HOUR}").status_code == 200
    bot.settle()
    # A duration the policy does not offer.
    assert remember(bot, card, BOB, value=f"{card.approval_id}:1:99999").status_code == 200
    bot.settle()
    # A request that does not exist.
    assert remember(bot, card, BOB, value=f"{'0' * 16}:1:{HOUR}").status_code == 200
    notes = told(fake_slack, BOB, 3)
    assert "edited since your card showed it" in notes[0]
    assert notes[1] == "Nothing changed: that isn't one of the choices this request offers."
    assert notes[2] == "I can't find that approval request any more."
    bot.settle()
    assert has_buttons(current(fake_slack, card))
    assert bot.deps.db.fetch_all("SELECT * FROM rules") == []
    assert fake_smtp.messages == []

    # Two picks at once (a double click): one approval, one rule.
    assert remember(bot, card, BOB, value=value).status_code == 200
    assert remember(bot, card, BOB, value=value).status_code == 200
    fake_smtp.wait_for_messages(1)
    bot.settle()
    assert len(bot.deps.db.fetch_all("SELECT * FROM rules")) == 1
    assert len(fake_smtp.messages) == 1


def test_an_admin_may_revoke_and_others_see_no_rule(remember_bot, fake_slack, fake_smtp):
    bot = remember_bot()
    email(bot)
    card = next_card(fake_slack, 0)
    remember(bot, card, BOB)
    fake_smtp.wait_for_messages(1)
    bot.settle()
    assert "#1" in ask(fake_slack, bot, "rules", REQ)  # it approves their runs: they see it
    assert ask(fake_slack, bot, "rules", EVE) == "No remembered approvals are in force for you."
    assert "no remembered approval #1" in ask(fake_slack, bot, "rules revoke 1", EVE)
    assert ask(fake_slack, bot, "rules revoke 1", ADMIN).startswith("Revoked rule #1:")


def published_home(fake_slack, bot, user: str, body: bytes | None = None) -> dict:
    before = len(fake_slack.calls("views.publish"))
    assert bot.send(body or sr.home_opened_body(user)).status_code == 200
    published = fake_slack.wait_for("views.publish", count=before + 1)[before]
    assert published.params["user_id"] == user
    return published.params["view"]


def revoke_click(rule_id: str, user: str) -> bytes:
    payload = sr.click_payload("rule.revoke", "0" * 16, user, "D1", "9.9")
    payload["container"] = {"type": "view", "view_id": "V1"}
    payload["actions"][0].update(value=rule_id, block_id="home-rule")
    return sr._payload(payload)


def test_app_home_lists_a_rule_and_its_maker_revokes_it_there(remember_bot, fake_slack, fake_smtp):
    bot = remember_bot()
    email(bot)
    remember(bot, next_card(fake_slack, 0), BOB)
    fake_smtp.wait_for_messages(1)
    bot.settle()

    requester_home = published_home(fake_slack, bot, REQ)
    assert "Remembered approvals" in blocks_text(requester_home["blocks"])
    assert not [b for b in requester_home["blocks"] if "accessory" in b]  # sees, may not revoke
    home = published_home(fake_slack, bot, BOB)
    [button] = [b["accessory"] for b in home["blocks"] if "accessory" in b]
    assert (button["action_id"], button["value"]) == ("rule.revoke", "1")

    after = published_home(fake_slack, bot, BOB, revoke_click("1", BOB))
    assert "Remembered approvals" not in blocks_text(after["blocks"])
    email(bot)
    assert "ops@example.com" in next_card(fake_slack, 1).text  # revoked: it asks again


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_racing_remember_and_approve_decide_once_and_make_a_rule_only_if_remember_won(
    database_url, remember_bot, fake_slack, fake_smtp
):
    carol = "U0CAROL"
    bot = remember_bot(APPROVERS=f"{BOB},{carol}")
    email(bot)
    card = next_card(fake_slack, 0)
    value = f"{card.approval_id}:1:{HOUR}"

    def pick(user):
        return lambda: remember(bot, card, user, value=value)

    def approve(user):
        return lambda: bot.click(ids.APPROVE, card.approval_id, user)

    responses = race([pick(BOB), approve(carol), pick(carol), approve(BOB)] * 3)
    assert all(r.status_code == 200 for r in responses)
    fake_smtp.wait_for_messages(1)
    bot.settle()
    assert len(fake_smtp.messages) == 1
    [approved] = [r for r in bot.deps.db.fetch_all("SELECT * FROM approvals")]
    made = bot.deps.db.fetch_all("SELECT * FROM rules")
    won = json.loads(approved["decision"])
    if won.get("remember"):
        assert [(r["id"], r["created_by"]) for r in made] == [(won["rule"], won["by"])]
    else:
        assert made == []


def test_a_rule_whose_maker_may_no_longer_approve_asks_again(remember_bot, fake_slack, fake_smtp):
    first = remember_bot()
    email(first)
    remember(first, next_card(fake_slack, 0), BOB)
    fake_smtp.wait_for_messages(1)
    first.settle()
    first.stop()

    # Bob is no longer an approver: his rule is in force, but no longer answers for anyone.
    bot = remember_bot(APPROVERS="U0CAROL")
    email(bot)
    assert "ops@example.com" in next_card(fake_slack, 1).text
    assert len(fake_smtp.messages) == 1


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
def test_a_request_a_rule_approved_just_before_a_crash_is_audited_and_said(
    database_url, remember_bot, fake_slack, fake_smtp, monkeypatch
):
    """The bot died as a rule's claim of a new request committed: the claim wrote the
    request's audit event, and the next bot carries the decision out and says the line."""
    bot = remember_bot()
    email(bot)
    first = next_card(fake_slack, 0)
    assert remember(bot, first, BOB).status_code == 200
    fake_smtp.wait_for_messages(1)
    bot.settle()
    killed_after(monkeypatch, bot.deps.store, "claim_by_rule", lambda made: made is not None)
    email(bot)  # the same email: rule #1 covers it
    bot.settle()
    assert len(fake_smtp.messages) == 1  # died before carrying it out
    bot.stop()
    monkeypatch.undo()

    again = remember_bot().restarted()
    again.tick(advance=61)
    again.settle()
    fake_smtp.wait_for_messages(2)  # the recovery sweep sent it
    by_rule = [(a, d["via"]) for e, a, d in audit(again) if e == "approved" and "rule_by" in d]
    assert by_rule == [(BOB, "rule")]
    [line] = by_rule_lines(fake_slack)
    assert "approved by rule #1, made by <@U0BOB>" in line


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
def test_a_rule_approval_whose_answer_was_lost_is_carried_out_and_never_called_an_error(
    database_url, remember_bot, fake_slack, fake_smtp
):
    """A rule's claim of a new request committed, and its answer was lost (the connection
    dropped at its COMMIT). It is read back and carried out at once (before: the requester
    was told the run "hit an error", the run was marked failed, and a minute later the sweep
    sent the email and reported the run done under that error)."""
    proxy = CuttingProxy()
    try:
        bot = remember_bot(DATABASE_URL=proxy.url(database_url))
        email(bot)
        first = next_card(fake_slack, 0)
        assert remember(bot, first, BOB).status_code == 200
        fake_smtp.wait_for_messages(1)
        bot.settle()
        proxy.arm(b"UPDATE rules SET uses", then=b"COMMIT")  # USE_RULE's transaction
        email(bot)  # the same email: rule #1 covers it
        assert proxy.cut.wait(10), "the rule's claim never went through the proxy"
        fake_smtp.wait_for_messages(2)
        bot.settle()
        for _ in range(2):  # the sweeps have their chance too (nothing is left for them)
            bot.tick(advance=61)
            bot.settle()
    finally:
        proxy.close()

    assert len(fake_smtp.messages) == 2
    assert not [
        c for c in fake_slack.calls("chat.postMessage") if "hit an error" in c.params["text"]
    ]
    [line] = by_rule_lines(fake_slack)
    assert "approved by rule #1, made by <@U0BOB>" in line
    assert cards_posted(fake_slack) == 1  # none for the request the rule approved
    assert [r["status"] for r in bot.deps.db.fetch_all("SELECT status FROM runs")] == ["done"] * 2
