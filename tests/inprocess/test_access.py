"""Who sees what, tried from outside: a request typed in a private channel is shown to its
requester, its approvers and the admins, at every door (App Home, `/agent pending`, `status`,
`audit`, "View full text", `GET /api/runs/{id}`), and to nobody else, who is answered exactly
as for a run that does not exist."""

from __future__ import annotations

import json
import re

import pytest

from bot.slack.blocks import card as ids
from tests.support import slack_requests as sr
from tests.support.cards import blocks_text, wait_card

REQ, BOSS, ADMIN, RANDO = "U0REQ", "U0BOSS", "U0ADMIN", "U0RANDO"
SECRET = "Initech merger"
TOKENS = {user: f"{user.lower()}-token-0123456789abcdef" for user in (REQ, BOSS, ADMIN, RANDO)}
API_TOKENS = ",".join(f"{u.lower()}:{t}:{u}" for u, t in TOKENS.items())


def _answer(fake_slack, bot, text: str, user: str) -> str:
    before = len(fake_slack.calls("response_url"))
    assert bot.command(text, user=user, channel="G0PRIV").status_code == 200
    return fake_slack.wait_for("response_url", count=before + 1)[before].params["text"]


def _home(fake_slack, bot, user: str) -> str:
    before = len(fake_slack.calls("views.publish"))
    assert bot.send(sr.home_opened_body(user)).status_code == 200
    published = fake_slack.wait_for("views.publish", count=before + 1)[before]
    assert published.params["user_id"] == user
    return blocks_text(published.params["view"]["blocks"])


def _api(bot, path: str, user: str):
    return bot.http.get(path, headers={"Authorization": f"Bearer {TOKENS[user]}"})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_outsider_sees_nothing_of_a_private_request_and_its_people_see_it(
    bot_in_process, fake_slack
):
    bot = bot_in_process(APPROVERS=BOSS, ADMINS=ADMIN, API_TOKENS=API_TOKENS)
    bot.command(f"Draft the memo about the {SECRET}", user=REQ, channel="G0PRIV")
    card = wait_card(fake_slack)
    assert card.channel == "G0PRIV" and SECRET in card.text
    run = re.search(r"Run `([0-9a-f]{8})`", card.text).group(1)

    # The outsider, at every door: what a run that does not exist gets, word for word.
    missing = {"status": "I can't find a run `{}`.", "audit": "I can't find a run `{}`."}
    for word, answer in missing.items():
        assert _answer(fake_slack, bot, f"{word} {run}", RANDO) == answer.format(run)
        assert _answer(fake_slack, bot, f"{word} ffffffff", RANDO) == answer.format("ffffffff")
    assert _answer(fake_slack, bot, "pending", RANDO) == "Nothing is waiting for your decision."
    outsider_home = _home(fake_slack, bot, RANDO)
    assert "Nothing is waiting" in outsider_home and SECRET not in outsider_home
    assert "waiting in all" not in outsider_home  # not even a count of others' requests
    hidden = _api(bot, f"/api/runs/{run}", RANDO)
    assert (hidden.status_code, hidden.json()) == (404, {"error": "No such run."})
    nothing = _api(bot, "/api/runs/ffffffff", RANDO)
    assert (nothing.status_code, nothing.json()) == (404, {"error": "No such run."})
    opened = len(fake_slack.calls("views.open"))
    bot.click(ids.VIEW_FULL, card.approval_id, RANDO)
    told = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params["user"] == RANDO)
    assert told[0].params["text"] == "I can't find that approval request any more."
    bot.click(ids.VIEW_FULL, "0123456789abcdef", RANDO)  # one that does not exist: the same
    told = fake_slack.wait_for("chat.postEphemeral", lambda c: c.params["user"] == RANDO, count=2)
    assert told[1].params["text"] == told[0].params["text"]
    assert len(fake_slack.calls("views.open")) == opened
    to_outsider = [
        json.dumps(c.params)
        for c in fake_slack.calls()
        if RANDO in (c.params.get("user"), c.params.get("user_id"))
    ]
    assert to_outsider and not any(SECRET in text for text in to_outsider)

    # Its requester, its approver and an admin see it at every door.
    for user in (REQ, BOSS, ADMIN):
        assert SECRET in _answer(fake_slack, bot, f"status {run}", user), user
        assert _answer(fake_slack, bot, f"audit {run}", user).startswith(
            f"*Audit trail of run `{run}`*"
        )
        assert SECRET in _home(fake_slack, bot, user), user
        shown = _api(bot, f"/api/runs/{run}", user)
        assert shown.status_code == 200 and SECRET in shown.json()["request"], user
        before = len(fake_slack.calls("views.open"))
        bot.click(ids.VIEW_FULL, card.approval_id, user)
        fake_slack.wait_for("views.open", count=before + 1)
    assert SECRET in _answer(fake_slack, bot, "pending", BOSS)  # the one who may decide it
