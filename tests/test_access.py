"""Who sees a run and who may look after it: the rule alone (pure), then every door in-process
(pending, status, audit, cancel, retry) asked by the people on each side of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.access import Audience, admits, audience
from bot.domain.models import Decision, RunRequest
from bot.domain.review import Review
from bot.domain.signoff import SignOff, Stage
from bot.slack.blocks.outcomes import RUN_GONE, sentence
from tests.support.inprocess import Clock, inprocess_deps

REQ, BOSS, LEAD, OTHER, ADMIN, RANDO = "U0REQ", "U0BOSS", "U0LEAD", "U0OTHER", "U0ADMIN", "U0RANDO"
GROUPS = {"S0LEADS": frozenset({LEAD}), "S0ADMINS": frozenset({"U0GADMIN"})}


def members(entries):
    """A directory that knows two groups and cannot resolve any other (Slack refused)."""
    users: set[str] = set()
    for entry in entries:
        if entry not in GROUPS:
            return None
        users |= GROUPS[entry]
    return frozenset(users)


def test_the_audience_is_the_requester_every_stages_approvers_and_the_admins():
    staged = SignOff((Stage(approvers=(BOSS,)), Stage(approvers=("S0LEADS", BOSS))))
    seen_by = audience(REQ, [staged, SignOff()], [ADMIN, "S0ADMINS"])
    assert seen_by == Audience(REQ, (BOSS, "S0LEADS", ADMIN, "S0ADMINS"))
    for user in (REQ, BOSS, LEAD, ADMIN, "U0GADMIN"):
        assert admits(seen_by, user, members), user
    for user in (RANDO, OTHER, "", "S0LEADS"):
        assert not admits(seen_by, user, members), user


def test_a_request_without_approvers_is_seen_by_its_requester_and_the_admins_only():
    seen_by = audience(REQ, [SignOff()], [ADMIN])
    assert admits(seen_by, REQ, members) and admits(seen_by, ADMIN, members)
    assert not admits(seen_by, BOSS, members)


def test_a_group_slack_cannot_resolve_admits_nobody_but_hides_nothing_else():
    seen_by = audience(REQ, [SignOff((Stage(approvers=("S0GONE", "S0LEADS")),))], ())
    assert admits(seen_by, LEAD, members)  # the group that resolves still counts
    assert not admits(seen_by, RANDO, members)  # fails closed


POLICY = """
graphs:
  draft: {approvers: [U0BOSS, S0LEADS]}
  action: {approvers: [U0OTHER]}
"""


@pytest.fixture
def deps(fake_slack, fake_openai, database_url, tmp_path: Path):
    policy = tmp_path / "policy.yml"
    policy.write_text(POLICY)
    fake_slack.usergroups["S0LEADS"] = [LEAD]
    fake_slack.usergroups["S0ADMINS"] = ["U0GADMIN"]
    built = inprocess_deps(
        fake_slack, fake_openai, database_url, Clock(), policy, ADMINS=f"{ADMIN},S0ADMINS"
    )
    yield built
    built.close()


def _private_run(deps, text: str = "Draft the note about the merger with Initech"):
    """A draft run typed in a private channel, waiting on its card."""
    run = deps.engine.start(RunRequest("draft", text, REQ, "G0PRIV", "G0PRIV"))
    assert [a.pending for a in deps.store.run_approvals(run.thread_id)] == [True]
    return run


def retry(deps, thread_id: str, user: str) -> str | None:
    """What ``user`` hears of their Retry click on run ``thread_id``, recorded and taken as
    the listener records it, then worked as the inbox works it."""
    received = deps.store.receive_retry(thread_id, Decision("retry", user), "C0", 30.0)
    return sentence(deps.engine.inbox.retry(deps.store.received_click(received)))


def test_pending_status_and_audit_show_a_private_run_only_to_its_people(deps):
    run = _private_run(deps)
    short = run.thread_id[:8]
    ops = deps.operations
    for user in (RANDO, OTHER):  # OTHER approves another graph: not this run
        assert ops.status(short, user) == f"I can't find a run `{short}`."
        assert ops.status("ffffffff", user) == "I can't find a run `ffffffff`."  # the same words
        assert ops.audit_of(short, user) == f"I can't find a run `{short}`."
        assert ops.audit_of(run.thread_id[:4], user) == f"I can't find a run `{run.thread_id[:4]}`."
        assert ops.pending(user) == "Nothing is waiting for your decision."
        assert deps.operations.access.pending(user) == []
    for user in (REQ, BOSS, LEAD, ADMIN, "U0GADMIN"):
        assert "merger with Initech" in ops.status(short, user), user
        assert ops.audit_of(short, user).startswith(f"*Audit trail of run `{short}`*"), user
        assert [a.thread_id for a in deps.operations.access.pending(user)] == [run.thread_id]
    assert "merger with Initech" in ops.pending(BOSS) and "Initech" in ops.pending(LEAD)
    assert ops.pending(ADMIN) == "Nothing is waiting for your decision."  # sees, may not decide


def test_two_runs_one_hidden_are_not_ambiguous_to_an_outsider(deps):
    """A short id that two runs share says "more than one" only when both may be seen."""
    mine = deps.store.create_run("ab" + "0" * 30, RunRequest("draft", "x", RANDO, "C0", "C0"))
    deps.store.create_run("ab00" + "1" * 28, RunRequest("draft", "y", REQ, "G0PRIV", "G0PRIV"))
    assert "*Run `ab000000`*" in deps.operations.status("ab00", RANDO)
    assert deps.operations.status("ab00", ADMIN).startswith("More than one run starts with")
    assert mine.requester == RANDO


def test_cancel_and_retry_by_an_approver_of_another_graph_only_are_refused(deps, fake_slack):
    run = _private_run(deps)
    short = run.thread_id[:8]
    assert deps.operations.cancel(short, OTHER) == f"I can't find a run `{short}`."
    assert deps.operations.cancel(short, RANDO) == f"I can't find a run `{short}`."
    [card] = deps.store.run_approvals(run.thread_id)
    assert card.pending and deps.store.get_run(run.thread_id).status == "waiting"

    deps.store.set_run_status(run.thread_id, "failed", "boom")
    assert retry(deps, run.thread_id, OTHER) == RUN_GONE
    assert retry(deps, run.thread_id, RANDO) == RUN_GONE
    assert retry(deps, "f" * 32, BOSS) == RUN_GONE  # the same words as no such run
    assert deps.store.get_run(run.thread_id).status == "failed"
    assert retry(deps, run.thread_id, LEAD) == f"Retrying run `{short}`."

    assert deps.operations.cancel(short, "U0GADMIN") == f"Cancelled run `{short}`."
    assert deps.store.get_run(run.thread_id).status == "cancelled"


def test_an_earlier_stages_approver_still_sees_the_run_on_the_home_list(deps):
    """A run whose later stage waits on another request: the earlier stage's approvers see it
    (the rule is about the run's requests, not only the one waiting)."""
    run = deps.store.create_run("c" * 32, RunRequest("draft", "Stage it", REQ, "G0", "G0"))
    review = Review("plain", "x", ())
    first = deps.store.add_approval(
        run, "i1", {}, review, signoff=SignOff((Stage(approvers=("U0FIRST",)),), 0, 2)
    )
    assert deps.store.claim(first.id, Decision("approve", "U0FIRST")) is not None
    second = deps.store.add_approval(
        run, "i2", {}, review, signoff=SignOff((Stage(approvers=("U0SECOND",)),), 1, 2)
    )
    for user in ("U0FIRST", "U0SECOND", REQ, ADMIN):
        assert [a.id for a in deps.operations.access.pending(user)] == [second.id], user
    assert deps.operations.access.pending(OTHER) == []
