"""Sign-off policies read from the policy file, routed per request, and votes counted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_settings
from bot.domain.models import Decision
from bot.domain.signoff import SignOff, Stage
from bot.domain.timeline import env_policy
from bot.domain.votes import Vote, as_shown, tally, vote_kind
from bot.policy.derive import policies_from, signoffs_from
from bot.policy.file import read_policy

ENV = {"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s", "OPENAI_API_KEY": "k"}


def signoffs(tmp_path: Path, text: str, **env: str):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    settings = load_settings({**ENV, "POLICY_FILE": str(path), **env})
    base = Stage(approvers=settings.approvers, allow_self=settings.allow_self_approval)
    return signoffs_from(read_policy(settings.policy_file), settings.policy_file, base)


def test_without_a_policy_file_approvers_come_from_the_environment(tmp_path):
    got = signoffs(tmp_path, "{}", APPROVERS="U01,S02", ALLOW_SELF_APPROVAL="true")
    assert got.for_request("draft", {}) == SignOff(
        (Stage(approvers=("U01", "S02"), allow_self=True),)
    )


def test_an_action_section_wins_over_its_graph_which_wins_over_defaults(tmp_path):
    got = signoffs(
        tmp_path,
        """
defaults: {approvers: [U01]}
graphs:
  action: {approvers: [U02, U03], quorum: 2}
actions:
  send_email: {approvers: [S09], rejections: 2, quorum: 3}
""",
    )
    assert got.for_request("draft", {}).stages == (Stage(approvers=("U01",)),)
    assert got.for_request("action", {"kind": "action", "action_type": "http_request"}).stages == (
        Stage(approvers=("U02", "U03"), quorum=2),
    )
    email = got.for_request("action", {"kind": "action", "action_type": "send_email"})
    assert email.stages == (Stage(approvers=("S09",), quorum=3, rejections=2),)
    assert email.counted
    # A tool gated by a human-in-the-loop middleware is an action too.
    batched = {"action_requests": [{"name": "send_email", "args": {}}], "review_configs": []}
    assert got.for_request("agent", batched) == email


def test_stages_without_at_are_signed_in_order_on_one_request(tmp_path):
    got = signoffs(
        tmp_path,
        """
graphs:
  draft:
    approvers: [S01]
    stages:
      - {name: Editor, quorum: 2}
      - {name: Legal, approvers: [U09]}
""",
    )
    sign_off = got.for_request("draft", {}, "review")
    assert sign_off.stages == (
        Stage("Editor", ("S01",), quorum=2),
        Stage("Legal", ("U09",)),
    )
    assert sign_off.counted and sign_off.total == 2
    assert sign_off.label(0) == "Stage 1 of 2: Editor"
    assert sign_off.what(1) == "stage 2 of 2 (Legal)"


def test_stages_with_at_route_each_pause_by_its_node(tmp_path):
    got = signoffs(
        tmp_path,
        """
graphs:
  orders:
    approvers: [U01]
    stages:
      - {name: Clinician, approvers: [S01], at: safety_check}
      - {name: Senior clinician, approvers: [U07], at: finalize}
""",
    )
    first = got.for_request("orders", None, "safety_check")
    second = got.for_request("orders", None, "finalize")
    assert first.stages == (Stage("Clinician", ("S01",), at="safety_check"),)
    assert second.stages == (Stage("Senior clinician", ("U07",), at="finalize"),)
    assert (second.first, second.total) == (1, 2)
    assert second.label(0) == "Stage 2 of 2: Senior clinician"
    assert not second.counted  # one click each; the stages are separate requests
    # A pause at another node is decided by the section's own approvers.
    assert got.for_request("orders", None, "elsewhere").stages == (Stage(approvers=("U01",)),)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("graphs: {draft: {quorum: 0}}", "quorum must be a whole number, 1 or more"),
        ("graphs: {draft: {quorum: true}}", "quorum must be a whole number"),
        ("graphs: {draft: {quorum: 2}}", "needs an approvers list"),
        ("graphs: {draft: {approvers: [U01, U02], quorum: 3}}", "needs 3 people but approvers"),
        ("graphs: {draft: {approvers: [bob]}}", "bob is not a user id"),
        ("graphs: {draft: {approvers: U01}}", None),  # a comma-separated string is fine
        ("graphs: {draft: {stages: []}}", "stages must be a list of stages"),
        (
            "graphs: {draft: {stages: [{name: A, color: red}]}}",
            "stages[0].color: unknown stage key",
        ),
        ("graphs: {draft: {stages: [{at: a}, {name: B}]}}", "give every stage an `at`, or none"),
        ("graphs: {draft: {stages: [{at: a}, {at: a}]}}", "two stages are `at` the same node"),
        ("graphs: {draft: {distinct: maybe}}", "distinct must be true or false"),
        ("graphs: {draft: {allow_self_approval: 1}}", "allow_self_approval must be true"),
        ("graphs: {draft: {approvers: [S01], rejections: 2}}", None),  # groups: size unknown
    ],
)
def test_mistakes_are_reported_with_where_they_are(tmp_path, text, problem):
    if problem is None:
        signoffs(tmp_path, text)
        return
    with pytest.raises(ConfigError) as error:
        signoffs(tmp_path, text)
    assert problem in str(error.value) and "graphs.draft" in str(error.value)


def test_the_reminder_policy_reader_accepts_the_sign_off_keys(tmp_path):
    path = tmp_path / "policy.yaml"
    path.write_text("graphs: {draft: {approvers: [U01], quorum: 1, remind_after: 5m}}")
    settings = load_settings({**ENV, "POLICY_FILE": str(path)})
    policies = policies_from(read_policy(settings.policy_file), env_policy(settings))
    assert policies.graphs["draft"].remind_after == 300


def test_sign_off_survives_a_round_trip_through_json():
    sign_off = SignOff((Stage("A", ("U01",), 2, 1, True, "n"),), 1, 3, True, round=2, previous="x")
    assert SignOff.from_dict(sign_off.to_dict()) == sign_off


def _vote(voter, kind, stage=0, void=False, **decision):
    return Vote(voter, stage, kind, Decision(kind, voter, **decision), void)


def test_tally_counts_standing_votes_of_one_stage():
    votes = [
        _vote("U01", "approve"),
        _vote("U02", "approve", void=True),  # approved a version since edited
        _vote("U03", "edit", text="new"),
        _vote("U04", "reject"),
        _vote("U05", "approve", stage=1),
    ]
    count = tally(votes, 0)
    assert count.approvals == ("U01", "U03")
    assert count.rejections == ("U04",)
    assert count.edit == Decision("edit", "U03", text="new")
    assert count.met(Stage(quorum=2)) and not count.met(Stage(quorum=3))
    assert count.refused(Stage()) and not count.refused(Stage(rejections=2))
    assert tally(votes, 1).approvals == ("U05",)


def test_what_a_click_counts_as():
    assert vote_kind(Decision("approve", "U01")) == "approve"
    assert vote_kind(Decision("reject", "U01")) == "reject"
    assert vote_kind(Decision("edit", "U01", text="x")) == "edit"
    assert vote_kind(Decision("revise", "U01")) is None  # "Request changes" settles it
    assert vote_kind(Decision("respond", "U01")) is None
    assert vote_kind(Decision("approve", "U01", items=[{"type": "approve"}] * 2)) == "approve"
    edit_items = [{"type": "approve"}, {"type": "edit", "values": {}}]
    assert vote_kind(Decision("approve", "U01", items=edit_items)) == "edit"
    # Whatever lets anything run is an approval of exactly what will run: a mixed batch is a
    # new version (an "edit") the others must sign too; an answer fills in what runs.
    mixed = [{"type": "approve"}, {"type": "reject"}]
    assert vote_kind(Decision("each", "U01", items=mixed)) == "edit"
    edit_reject = [{"type": "edit", "values": {"to": "x"}}, {"type": "reject"}]
    assert vote_kind(Decision("each", "U01", items=edit_reject)) == "edit"
    assert vote_kind(Decision("answer", "U01", parameters={"a": 1})) == "edit"
    # Stops and replies run nothing.
    assert vote_kind(Decision("each", "U01", items=[{"type": "reject"}] * 2)) == "reject"
    replies = [{"type": "reject"}, {"type": "respond", "message": "no"}]
    assert vote_kind(Decision("each", "U01", items=replies)) is None


def test_a_batch_reviewed_call_by_call_over_an_edit_signs_exactly_what_it_decided():
    """What a Review each sent on a request an edit stands on signs: the standing version when
    every call is decided as the card shows it, else a new version -- never the standing one
    in the name of calls it decided otherwise."""
    to = {"to": "boss@x.io"}
    standing = Decision("each", "U01", items=[{"type": "edit", "values": to}, {"type": "reject"}])
    changed = [to, None]
    approve, reject = {"type": "approve"}, {"type": "reject", "message": None}
    signs = [{"type": "approve", "message": None}] * 2
    assert as_shown([approve, reject], standing, changed) == signs  # as the card shows it
    # Approving the call it rejects: a new version, the first call as the card showed it.
    new = as_shown([approve, approve], standing, changed)
    assert (
        new == [{"type": "edit", "values": to}, approve]
        and vote_kind(Decision("each", "U02", items=new)) == "edit"
    )
    # A rejection of its own words is a version of its own.
    worded = {"type": "reject", "message": "never"}
    assert as_shown([approve, worded], standing, changed) == [new[0], worded]
    # All approvals sign a version that runs every call; all rejections stop it.
    runs = Decision("each", "U01", items=[{"type": "edit", "values": to}, approve])
    assert as_shown([approve, approve], runs, changed) == [approve, approve]
    assert as_shown([reject, reject], standing, changed) == [reject, reject]
    # Nothing edited to make a new version of: approving every call is neither.
    bare = Decision("each", "U01", items=[approve, reject])
    assert as_shown([approve, approve], bare, [None, None]) is None


def test_a_batch_needs_every_call_s_section_whatever_order_the_model_listed_them(tmp_path):
    got = signoffs(
        tmp_path,
        """
defaults: {approvers: [U01, U02, U03]}
actions:
  issue_refund: {quorum: 2}
  wire_money: {approvers: [U09, U08]}
""",
    )

    def batch(*names: str) -> dict:
        return {"action_requests": [{"name": n, "args": {}} for n in names]}

    # Same approvers: one stage with the highest quorum, in either order.
    for order in (("lookup_order", "issue_refund"), ("issue_refund", "lookup_order")):
        both = got.for_request("agent", batch(*order))
        assert both.stages == (Stage(approvers=("U01", "U02", "U03"), quorum=2),)
        assert both.counted
    # Different approvers: each section's people sign, in turn, on one card.
    mixed = got.for_request("agent", batch("lookup_order", "wire_money"))
    assert [s.approvers for s in mixed.stages] == [("U01", "U02", "U03"), ("U09", "U08")]
    assert mixed.joint and mixed.counted and mixed.total == 2
    assert mixed.stages[1].name == "wire_money"
