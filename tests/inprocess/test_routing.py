"""Cards routed by the policy file (issue 22): a section's own channel, copies in each decider's
direct messages, every copy redrawn on every change, and the requester told where the card
waits. The bot runs in this process, on both databases."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.slack.blocks import card as ids
from tests.inprocess.test_action_graph import EMAIL, propose
from tests.support import slack_requests as sr
from tests.support.cards import Card, blocks_text, has_buttons, wait_card, wait_cards

REQ, A, B, C, EVE = "U0REQ", "U0ALICE", "U0BOB", "U0CAROL", "U0EVE"
KEYS = "S0KEYS"
GEN, FIN = "C0GEN", "C0FIN"


def _policy(tmp_path: Path, text: str) -> str:
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return str(path)


@pytest.fixture
def action_bot(bot_in_process, fake_smtp, fake_webhook, tmp_path):
    def start(policy: str, **env: str):
        return bot_in_process(
            SMTP_URL=fake_smtp.url,
            EMAIL_FROM="agent@example.com",
            WEBHOOK_ALLOWLIST=fake_webhook.base_url,
            POLICY_FILE=_policy(tmp_path, policy),
            REMIND_AFTER="off",
            **env,
        )

    return start


def _now(fake_slack, card: Card) -> dict:
    return fake_slack.message(card.channel, card.ts)


def _reports(fake_slack, text: str) -> list:
    return [c for c in fake_slack.calls("chat.postMessage") if c.ok and c.params["text"] == text]


def test_an_actions_channel_takes_its_card_and_the_requester_gets_a_link(
    action_bot, fake_slack, fake_smtp
):
    bot = action_bot(f"actions:\n  send_email:\n    channel: {FIN}\n    approvers: [{A}]\n")
    bot.command(propose("send_email", "high", "Mail the numbers", **EMAIL), REQ, GEN)
    card = wait_card(fake_slack)
    assert card.channel == FIN

    # One line in the requester's channel: who the request waits for, where, and a link.
    [line] = fake_slack.wait_for(
        "chat.postMessage",
        lambda c: c.ok and c.params["channel"] == GEN and "waits" in c.params["text"],
    )
    permalink = fake_slack.calls("chat.getPermalink")[-1].response["permalink"]
    assert line.params["text"] == (
        f"<@{REQ}> your action waits for <@{A}> in <#{FIN}>: <{permalink}|Open the request>"
    )
    assert FIN in permalink and card.ts.replace(".", "") in permalink
    assert [m for m in fake_slack.messages(GEN) if has_buttons(m)] == []  # no card there

    assert bot.click(ids.APPROVE, card.approval_id, A).status_code == 200
    report = "send_email: Email sent to ops@example.com with subject 'Q3 numbers'"
    fake_slack.wait_for("chat.postMessage", lambda c: c.params["text"] == report)
    bot.settle()
    [posted] = _reports(fake_slack, report)  # the outcome once, in the card's thread
    assert (posted.params["channel"], posted.params["thread_ts"]) == (FIN, card.ts)
    assert not has_buttons(_now(fake_slack, card))
    assert len(fake_smtp.messages) == 1


def _home_click(bot, button: str, approval_id: str, user: str, value: str):
    """A click on App Home (a view: no channel, no message), as Slack sends it."""
    payload = sr.click_payload(button, approval_id, user, value=value)
    payload["container"] = {"type": "view", "view_id": "VHOME"}
    del payload["channel"], payload["message"]
    return bot.send(sr._payload(payload))


def test_a_refused_form_button_on_app_home_is_heard_though_the_card_is_someone_else_s_dm(
    bot_in_process, fake_slack, tmp_path
):
    """App Home's buttons come from no conversation: a refusal is said where the card is,
    and when that is another person's DM (Slack will not show it to them there), in their own
    DM with the app, as an Approve's refusal is; never nothing."""
    fake_slack.usergroups[KEYS] = [A, B, C]
    policy = f"defaults:\n  approvers: [{KEYS}]\n  deliver: dm\n"
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, policy), REMIND_AFTER="off")
    bot.command("Tell the team the release is out", REQ, GEN)
    cards = _dm_cards(fake_slack)
    first = wait_card(fake_slack)  # the request's own card: the first DM copy
    late = next(p for p in (A, B, C) if f"D{p}" != first.channel)
    value = sr.button_value(_now(fake_slack, cards[late])["blocks"], first.approval_id, ids.REJECT)

    bot.click(ids.APPROVE, cards[C].approval_id, C, channel=f"D{C}", ts=cards[C].ts)
    bot.settle()
    assert _home_click(bot, ids.REJECT, first.approval_id, late, value).status_code == 200
    bot.settle()
    heard = [e["text"] for e in fake_slack.ephemerals(f"D{late}") if e["user"] == late]
    heard += [m["text"] for m in fake_slack.messages(f"D{late}") if not m.get("blocks")]
    assert any(t.startswith("Nothing changed: this request was already decided.") for t in heard)
    assert not fake_slack.calls("views.open")


DM_QUORUM = f"""
graphs:
  draft:
    approvers: [{KEYS}]
    deliver: dm
    quorum: 2
    expire_after: 1h
"""


def _dm_cards(fake_slack, count: int = 3) -> dict[str, Card]:
    """The DM copies by the person they went to (the fake's DM with U… is D U…)."""
    cards = wait_cards(fake_slack, count)
    return {c.channel.removeprefix("D"): c for c in cards}


def test_dm_copies_go_to_each_member_and_all_show_the_votes_and_the_decision(
    bot_in_process, fake_slack, tmp_path
):
    fake_slack.usergroups[KEYS] = [A, B, C]
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, DM_QUORUM), REMIND_AFTER="off")
    bot.command("Tell the team the release is out", REQ, GEN)
    cards = _dm_cards(fake_slack)
    assert sorted(cards) == [A, B, C]
    assert len(fake_slack.calls("conversations.open")) == 3
    assert {cards[p].approval_id for p in cards} == {cards[A].approval_id}
    assert all("0 of 2 approvals" in c.text for c in cards.values())
    assert [m for m in fake_slack.messages(GEN) if has_buttons(m)] == []
    fake_slack.wait_for("chat.postMessage", lambda c: c.params["channel"] == GEN)

    assert bot.click(ids.APPROVE, cards[A].approval_id, A, channel=f"D{A}", ts=cards[A].ts)
    bot.settle()
    for person, copy in cards.items():  # each copy shows the vote
        shown = blocks_text(_now(fake_slack, copy)["blocks"])
        assert "1 of 2 approvals" in shown, (person, shown)
        assert has_buttons(_now(fake_slack, copy))

    bot.click(ids.APPROVE, cards[B].approval_id, B, channel=f"D{B}", ts=cards[B].ts)
    bot.settle()
    for copy in cards.values():  # decided: no copy keeps live buttons
        message = _now(fake_slack, copy)
        assert not has_buttons(message)
        assert "Approved* by" in blocks_text(message["blocks"])
    # The outcome once, in the thread of the requester's line (the run's thread).
    [notice] = [m for m in fake_slack.messages(GEN) if "waits" in m["text"]]
    assert len(fake_slack.replies(GEN, notice["ts"])) == 1


def test_the_first_approval_of_a_dm_card_updates_every_copy(bot_in_process, fake_slack, tmp_path):
    fake_slack.usergroups[KEYS] = [A, B, C]
    policy = f"defaults:\n  approvers: [{KEYS}]\n  deliver: dm\n"
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, policy), REMIND_AFTER="off")
    bot.command("Tell the team the release is out", REQ, GEN)
    cards = _dm_cards(fake_slack)

    bot.click(ids.APPROVE, cards[C].approval_id, C, channel=f"D{C}", ts=cards[C].ts)
    bot.settle()
    for copy in cards.values():
        message = _now(fake_slack, copy)
        assert not has_buttons(message)
        assert f"Approved* by <@{C}>" in blocks_text(message["blocks"])
    # A late click on another copy changes nothing and is told so.
    bot.click(ids.APPROVE, cards[A].approval_id, A, channel=f"D{A}", ts=cards[A].ts)
    bot.settle()
    [late] = [e for e in fake_slack.ephemerals(f"D{A}") if e["user"] == A]
    assert late["text"].startswith("Nothing changed: this request was already decided.")


def test_a_late_form_button_on_a_dm_copy_is_answered_in_that_dm(
    bot_in_process, fake_slack, tmp_path
):
    """Reject, Edit and the other buttons that open a form are checked before the form opens:
    a refusal there is said where the person clicked (their own DM copy), as a decision's is,
    not in the request's first conversation, which may be someone else's DM (Slack refuses an
    ephemeral there: they would hear nothing)."""
    fake_slack.usergroups[KEYS] = [A, B, C]
    policy = f"defaults:\n  approvers: [{KEYS}]\n  deliver: dm\n"
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, policy), REMIND_AFTER="off")
    bot.command("Tell the team the release is out", REQ, GEN)
    cards = _dm_cards(fake_slack)
    shown = {person: _now(fake_slack, copy)["blocks"] for person, copy in cards.items()}

    bot.click(ids.APPROVE, cards[C].approval_id, C, channel=f"D{C}", ts=cards[C].ts)
    bot.settle()
    # Clicks in flight from copies that still showed their buttons.
    for person, button in ((A, ids.REJECT), (B, ids.EDIT)):
        copy = cards[person]
        bot.click(
            button, copy.approval_id, person, channel=copy.channel, ts=copy.ts, blocks=shown[person]
        )
    bot.settle()
    for person in (A, B):
        told = [e["text"] for e in fake_slack.ephemerals(f"D{person}") if e["user"] == person]
        assert told and told[-1].startswith("Nothing changed: this request was already decided.")
    assert not fake_slack.calls("views.open")


def test_expiry_updates_every_dm_copy(bot_in_process, fake_slack, tmp_path):
    fake_slack.usergroups[KEYS] = [A, B, C]
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, DM_QUORUM), REMIND_AFTER="off")
    bot.command("Tell the team the release is out", REQ, GEN)
    cards = _dm_cards(fake_slack)
    bot.settle()

    bot.tick_until(
        lambda: not any(has_buttons(_now(fake_slack, c)) for c in cards.values()),
        "expire the request",
        advance=3700,
    )
    for copy in cards.values():
        assert "Expired" in blocks_text(_now(fake_slack, copy)["blocks"])


STAGES = f"""
graphs:
  draft:
    deliver: {{deliver}}
    channel: {FIN}
    stages:
      - {{{{name: Finance, approvers: [{A}]}}}}
      - {{{{name: CFO, approvers: [{B}]}}}}
"""


@pytest.mark.parametrize("deliver", ["channel", "dm"])
def test_a_click_on_a_dm_copy_is_refused_exactly_like_one_in_the_channel(
    bot_in_process, fake_slack, tmp_path, deliver
):
    policy = STAGES.format(deliver=deliver)
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, policy), REMIND_AFTER="off")
    bot.command("Tell the team the release is out", REQ, GEN)
    first = wait_card(fake_slack)
    assert first.channel == (FIN if deliver == "channel" else f"D{A}")
    bot.click(ids.APPROVE, first.approval_id, A, channel=first.channel, ts=first.ts)
    bot.settle()
    if deliver == "dm":  # the next stage's person gets their own copy
        [_, second] = wait_cards(fake_slack, 2)
        assert second.channel == f"D{B}"

    # Alice signed stage 1; on her copy she may not sign stage 2 too, nor may a stranger.
    for user in (A, EVE):
        bot.click(ids.APPROVE, first.approval_id, user, channel=first.channel, ts=first.ts)
    bot.settle()
    told = {e["user"]: e["text"] for e in fake_slack.ephemerals(first.channel)}
    if deliver == "dm":  # Eve is not in Alice's DM: Slack would not show her anything there
        assert EVE not in told
    else:
        assert told[EVE] == f"Only <@{B}> can decide stage 2 of 2 (CFO)."
    assert told[A] == f"Only <@{B}> can decide stage 2 of 2 (CFO)."
    assert has_buttons(_now(fake_slack, first))  # nothing changed
    assert "CFO" in blocks_text(_now(fake_slack, first)["blocks"])


def test_a_reminder_follows_the_card_into_each_dm(bot_in_process, fake_slack, tmp_path):
    fake_slack.usergroups[KEYS] = [A, B, C]
    policy = f"defaults:\n  approvers: [{KEYS}]\n  deliver: dm\n  remind_after: 10m\n"
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, policy))
    bot.command("Tell the team the release is out", REQ, GEN)
    cards = _dm_cards(fake_slack)
    bot.settle()

    bot.tick_until(
        lambda: all(fake_slack.replies(c.channel, c.ts) for c in cards.values()),
        "remind in every DM",
        advance=660,
    )
    for copy in cards.values():
        [reminder] = fake_slack.replies(copy.channel, copy.ts)
        assert ":alarm_clock:" in reminder["text"]


def test_a_stage_with_its_own_channel_gets_its_own_card_and_both_end_decided(
    bot_in_process, fake_slack, tmp_path
):
    policy = f"""
graphs:
  draft:
    channel: {FIN}
    stages:
      - {{name: Finance, approvers: [{A}]}}
      - {{name: CFO, approvers: [{B}], channel: C0CFO}}
"""
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, policy), REMIND_AFTER="off")
    bot.command("Tell the team the release is out", REQ, GEN)
    first = wait_card(fake_slack)
    assert first.channel == FIN
    bot.click(ids.APPROVE, first.approval_id, A)
    [_, second] = wait_cards(fake_slack, 2)
    assert (second.channel, second.approval_id) == ("C0CFO", first.approval_id)
    bot.settle()
    assert "CFO" in blocks_text(_now(fake_slack, first)["blocks"])  # the first shows it moved on

    bot.click(ids.APPROVE, second.approval_id, B, channel=second.channel, ts=second.ts)
    bot.settle()
    for copy in (first, second):
        message = _now(fake_slack, copy)
        assert not has_buttons(message)
        assert f"<@{B}>" in blocks_text(message["blocks"])
    # The outcome once, in the run's thread: the first card's.
    replies = [r["text"] for r in fake_slack.replies(FIN, first.ts)]
    assert replies == [
        f"Stage 2 of 2: CFO is for <@{B}>. Its card is in <#C0CFO>.",
        "Approved. Posted to C0GEN (message " + replies[1].split("(message ")[1],
    ]
    assert fake_slack.replies("C0CFO", second.ts) == []
    assert len(_reports(fake_slack, "Draft: Tell the team the release is out")) == 1


def test_a_dm_copy_slack_failed_for_now_comes_with_a_later_tick_and_a_gone_user_is_skipped(
    bot_in_process, fake_slack, tmp_path
):
    fake_slack.usergroups[KEYS] = [A, B, C]
    fake_slack.users[C] = {"deleted": True}  # conversations.open: user_not_found, for good
    fake_slack.fail_next("chat.postMessage", status=500, error="internal_error", channel=f"D{B}")
    policy = f"defaults:\n  approvers: [{KEYS}]\n  deliver: dm\n"
    bot = bot_in_process(POLICY_FILE=_policy(tmp_path, policy), REMIND_AFTER="off")
    bot.command("Tell the team the release is out", REQ, GEN)
    [alice] = wait_cards(fake_slack, 1)
    bot.settle()
    assert alice.channel == f"D{A}"

    bot.tick_until(lambda: len(wait_cards(fake_slack, 1)) == 2, "post Bob's copy", advance=5)
    cards = _dm_cards(fake_slack, 2)
    assert sorted(cards) == [A, B]
    bot.tick(60)
    bot.settle()
    assert len(wait_cards(fake_slack, 1)) == 2  # Carol's is not tried for ever
    carol = [c for c in fake_slack.calls("conversations.open") if c.params["users"] == C]
    assert len(carol) == 2 and {c.response["error"] for c in carol} == {"user_not_found"}
    bot.click(ids.APPROVE, cards[B].approval_id, B, channel=f"D{B}", ts=cards[B].ts)
    bot.settle()
    assert not any(has_buttons(_now(fake_slack, c)) for c in cards.values())


def test_a_reader_of_a_public_channel_they_have_not_joined_hears_their_answer_in_their_dm(
    bot_in_process, fake_slack
):
    """Anyone can read a public channel without joining it, and click its buttons; Slack shows
    an ephemeral only to a member, so what the bot says to such a reader (here: View full text
    on a request that does not exist, and a button that is not one of the bot's) goes to their
    own DM with the app: never a listener's error and nothing heard."""
    bot = bot_in_process(REMIND_AFTER="off")
    fake_slack.set_members("C0PUBLIC", ["U0MEMBER"])
    reader = "U0READER"
    answered = bot.click(ids.VIEW_FULL, "0123456789abcdef", reader, channel="C0PUBLIC", ts="1.0")
    assert answered.status_code == 200
    bot.settle()
    heard = [m["text"] for m in fake_slack.messages(f"D{reader}")]
    assert heard == ["I can't find that approval request any more."]
    assert not fake_slack.ephemerals("C0PUBLIC")
