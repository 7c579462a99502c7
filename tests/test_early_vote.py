"""A vote can come before its card's post is recorded: the API names no card, so nothing waits
for one. The card, posted under the run's lock, must still come to show that vote (it used to
keep "0 of 2 approvals": the redraw found no ts and did nothing)."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from bot.core import outcomes
from bot.domain.models import Decision, RunRequest
from tests.support.cards import wait_card, wait_shown
from tests.support.faults import wait_until
from tests.support.inprocess import Clock, inprocess_deps

TEXT = "Tell the team the release is out"


def test_a_vote_that_beats_the_cards_post_still_shows_on_the_card(
    fake_slack, fake_openai, database_url, tmp_path
):
    policy = tmp_path / "policy.yaml"
    policy.write_text("graphs: {draft: {approvers: [U0ALICE, U0BOB], quorum: 2}}\n")
    deps = inprocess_deps(fake_slack, fake_openai, database_url, Clock(), policy)
    try:
        run = deps.store.create_run(
            uuid.uuid4().hex, RunRequest("draft", TEXT, "U0REQ", "C0", "C0")
        )
        fake_slack.set_latency("chat.postMessage", 1.0)  # the card's post is under way a while
        with ThreadPoolExecutor(1) as pool:
            posting = pool.submit(deps.engine.advance, run.thread_id)
            wait_until(lambda: bool(deps.store.run_approvals(run.thread_id)), "a request", 20, str)
            [request] = deps.store.run_approvals(run.thread_id)
            assert request.ts is None  # Slack has not answered the post yet
            vote = Decision("approve", "U0ALICE", via="api", on_behalf_of="desk")
            assert isinstance(deps.engine.decide(request.id, vote), outcomes.VoteRecorded)
            posting.result(timeout=30)
        card = wait_card(fake_slack)
        wait_shown(fake_slack, card, "1 of 2 approvals: <@U0ALICE>")
    finally:
        deps.close()
