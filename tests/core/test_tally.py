"""Sign-off as the engine sees it (bot.core.tally.SignOffTally) over the real Store on both
databases: the sign-off and thread a new request gets from what came before it in its run,
who may sign it given who signed the run's other requests, what a click counts as, and where
a counted request's signing stands."""

from __future__ import annotations

import pytest

from bot.core.deciders import Directory, Why
from bot.core.tally import SignOffTally
from bot.domain.models import Decision, RunRequest
from bot.domain.review import Choice, Proposal, Review
from bot.domain.signoff import Section, SignOff, SignOffs, Stage
from bot.store.decisions import Ballot
from bot.store.repository import Store

REVIEW = Review("plain", "Approval needed", (Proposal("Send", choices=("approve", "reject")),))


@pytest.fixture
def store(db, clock):
    return Store(db, clock)


def _tally(store, db, section: Section, summarize=None) -> SignOffTally:
    def members(group: str) -> list[str]:
        return {"S0TEAM": ["U1", "U2"]}[group]

    extra = {"summarize": summarize} if summarize else {}
    return SignOffTally(store, db, Directory(members), SignOffs(section), **extra)


def _run(store, thread_id: str = "t1"):
    return store.create_run(thread_id, RunRequest("draft", "x", "U0ASKER", "C0ASK", "C0CARDS"))


def _request(store, run, interrupt: str, signoff: SignOff | None = None, review=REVIEW):
    return store.add_approval(run, interrupt, {"value": {}}, review, (), signoff)


def test_a_single_decider_request_counts_no_votes(store, db):
    tally = _tally(store, db, Section(Stage(approvers=("U1",))))
    run = _run(store)
    approval = _request(store, run, "i1", tally.plan(run, {}, "n")[0])

    assert tally.vote_kind(approval, Decision("approve", "U1")) is None
    assert tally.standing_edit(approval) is None
    progress = tally.progress(approval)
    assert progress.votes == [] and progress.edit is None


def test_in_a_counted_request_each_click_is_a_vote_of_its_kind(store, db):
    tally = _tally(store, db, Section(Stage(approvers=("U1", "U2"), quorum=2)))
    run = _run(store)
    approval = _request(store, run, "i1", tally.plan(run, {}, "n")[0])

    assert tally.vote_kind(approval, Decision("approve", "U1")) == "approve"
    assert tally.vote_kind(approval, Decision("edit", "U1")) == "edit"
    assert tally.vote_kind(approval, Decision("answer", "U1")) == "edit"
    assert tally.vote_kind(approval, Decision("reject", "U1")) == "reject"
    assert tally.vote_kind(approval, Decision("respond", "U1", message="hi")) is None


def test_votes_so_far_the_edit_that_stands_and_the_voters_receipt(store, db):
    tally = _tally(store, db, Section(Stage(approvers=("S0TEAM", "U3"), quorum=3)))
    run = _run(store)
    approval = _request(store, run, "i1", tally.plan(run, {}, "n")[0])
    store.vote(approval.id, 0, Decision("approve", "U1"), "approve")
    edit = Decision("edit", "U2", parameters={"text": "better"})
    ballot = store.vote(approval.id, 0, edit, "edit")
    approval = store.get_approval(approval.id)

    progress = tally.progress(approval)
    assert [(v.voter, v.vote, v.void) for v in progress.votes] == [
        ("U1", "approve", True),  # for the version U2 has since edited
        ("U2", "edit", False),
    ]
    assert progress.edit == tally.standing_edit(approval)
    assert progress.edit.parameters == {"text": "better"}

    receipt = tally.receipt(approval, ballot)
    assert receipt.ballot == "counted"
    assert receipt.count.approvals == ("U2",)  # the void approval no longer counts
    assert receipt.stage.quorum == 3
    assert receipt.approval.id == approval.id


def test_a_receipt_names_the_stage_the_request_moved_on_to(store, db):
    stages = (Stage("Finance", approvers=("U1",)), Stage("CFO", approvers=("U2",)))
    tally = _tally(store, db, Section(Stage(), stages))
    run = _run(store)
    approval = _request(store, run, "i1", tally.plan(run, {}, "n")[0])
    ballot = store.vote(approval.id, 0, Decision("approve", "U1"), "approve")
    assert ballot.outcome == "advanced"

    receipt = tally.receipt(store.get_approval(approval.id), ballot)

    assert receipt.ballot == "advanced"
    assert receipt.label == "Stage 2 of 2: CFO"
    assert receipt.stage.approvers == ("U2",)


def test_refusal_names_who_may_and_resolves_groups(store, db):
    tally = _tally(store, db, Section(Stage(approvers=("S0TEAM",))))
    run = _run(store)
    approval = _request(store, run, "i1", tally.plan(run, {}, "n")[0])

    assert tally.refusal(approval, "U1") is None  # a member of S0TEAM
    refused = tally.refusal(approval, "U9")
    assert refused.why is Why.NOT_LISTED
    assert refused.stage.approvers == ("S0TEAM",)
    assert refused.requester == "U0ASKER"
    assert refused.what == "this request"


def test_with_distinct_signers_nobody_signs_two_requests_of_one_run(store, db):
    tally = _tally(store, db, Section(Stage(approvers=("U1", "U2")), distinct=True))
    run = _run(store)
    first = _request(store, run, "i1", tally.plan(run, {}, "n")[0])
    second = _request(store, run, "i2", tally.plan(run, {}, "n")[0])
    assert store.claim(first.id, Decision("approve", "U1")) is not None

    refused = tally.refusal(second, "U1")

    assert refused is not None and refused.why is Why.SIGNED_BEFORE
    assert tally.refusal(second, "U2") is None


def test_without_distinct_one_person_may_sign_each_request(store, db):
    tally = _tally(store, db, Section(Stage(approvers=("U1", "U2"))))
    run = _run(store)
    first = _request(store, run, "i1", tally.plan(run, {}, "n")[0])
    second = _request(store, run, "i2", tally.plan(run, {}, "n")[0])
    store.claim(first.id, Decision("approve", "U1"))

    assert tally.refusal(second, "U1") is None


def test_a_later_stage_at_its_own_node_is_refused_to_who_signed_the_earlier(store, db):
    stages = (
        Stage("Pharmacist", approvers=("U1", "U2"), at="pharmacist"),
        Stage("Senior", approvers=("U1", "U2"), at="senior"),
    )
    tally = _tally(store, db, Section(Stage(), stages))
    run = _run(store)
    sign_off, _ = tally.plan(run, {}, "pharmacist")
    assert sign_off.label(0) == "Stage 1 of 2: Pharmacist"
    first = _request(store, run, "i1", sign_off)
    store.claim(first.id, Decision("approve", "U1"))

    later, _ = tally.plan(run, {}, "senior")
    assert later.label(0) == "Stage 2 of 2: Senior"
    assert [(s.stage, s.by) for s in later.earlier] == [("Stage 1 of 2: Pharmacist", ("U1",))]
    second = _request(store, run, "i2", later)
    assert tally.refusal(second, "U1").why is Why.SIGNED_BEFORE
    assert tally.refusal(second, "U2") is None


def test_a_new_round_after_someone_asked_for_changes_replies_under_the_first_card(store, db):
    summaries: list[str] = []

    def summarize(approval):
        summaries.append(approval.id)
        return f"changes asked by {approval.decided_by}"

    tally = _tally(store, db, Section(Stage()), summarize)
    run = _run(store)
    review = Review(
        "plain",
        "Approval needed",
        (Proposal("Send", choices=("approve", "reject")),),
        extra=(Choice("revise", "Request changes", ("notes",)),),
    )
    first = _request(store, run, "i1", tally.plan(run, {}, "n")[0], review)
    store.set_card(first.id, "C0CARDS", "100.1")
    assert tally.plan(run, {}, "n")[1] is None  # a sibling of a pending card: its own post
    store.claim(first.id, Decision("revise", "U0ASKER", message="shorter"))

    sign_off, thread_ts = tally.plan(run, {}, "n")

    assert thread_ts == "100.1"
    assert sign_off.round == 2
    assert sign_off.previous == "changes asked by U0ASKER"
    assert summaries == [first.id]


def test_a_request_recorded_without_a_sign_off_is_signed_by_todays_defaults(store, db):
    tally = _tally(store, db, Section(Stage(approvers=("U7",), quorum=1)))
    run = _run(store)
    approval = _request(store, run, "i1", None)

    sign_off, stage = tally.stage_of(approval)

    assert stage.approvers == ("U7",)
    assert tally.refusal(approval, "U7") is None
    assert tally.refusal(approval, "U1").why is Why.NOT_LISTED


def test_a_ballot_that_closed_counts_nothing(store, db):
    tally = _tally(store, db, Section(Stage(approvers=("U1", "U2"), quorum=2)))
    run = _run(store)
    approval = _request(store, run, "i1", tally.plan(run, {}, "n")[0])
    receipt = tally.receipt(approval, Ballot("closed"))
    assert receipt.count.approvals == () and receipt.count.rejections == ()
