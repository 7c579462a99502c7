from dataclasses import replace

from bot.core import deciders
from bot.core.deciders import Directory
from bot.domain.signoff import Stage
from bot.slack.blocks.deciders import refusal_text, who_may


def refusal(*args, **kwargs) -> str | None:
    """Why the person may not decide, as Slack says it (None when they may)."""
    why = deciders.refusal(*args, **kwargs)
    return None if why is None else refusal_text(why)


def test_without_approvers_only_the_requester_decides():
    stage = Stage()
    assert refusal("U1", "U1", stage, frozenset()) is None
    assert refusal("U2", "U1", stage, frozenset()) == (
        "Only <@U1>, who started this run, can decide this request."
    )


def test_with_approvers_only_listed_people_and_never_self_by_default():
    stage = Stage(approvers=("U2", "S9"))
    members = frozenset({"U2", "U3"})
    assert refusal("U2", "U1", stage, members) is None
    assert refusal("U3", "U1", stage, members) is None
    assert refusal("U4", "U1", stage, members) == (
        "Only <@U2> or members of <!subteam^S9> can decide this request."
    )
    assert refusal("U2", "U2", stage, members) == (  # not told they may, a line on
        "You started this run, so someone else has to decide this request: "
        "members of <!subteam^S9>."
    )
    assert refusal("U2", "U2", Stage(approvers=("U2",), allow_self=True), members) is None


def test_the_holder_of_a_token_that_asked_in_someone_s_name_may_not_approve_it_either():
    stage = Stage(approvers=("U1", "U2", "U3"))
    members = frozenset({"U1", "U2", "U3"})
    own = "You started this run, so someone else has to decide this request: <@U3>."
    assert refusal("U2", "U1", stage, members, asked_by="U2") == own  # a click
    assert refusal("U3", "U1", stage, members, hand="U2", asked_by="U2") == own  # the token
    assert refusal("U3", "U1", stage, members, asked_by="U2") is None
    assert refusal("U2", "U1", replace(stage, allow_self=True), members, asked_by="U2") is None


def test_a_person_who_signed_another_part_of_the_run_is_refused_and_told_who_may():
    stage = Stage(approvers=("U2", "U3"))
    members = frozenset({"U2", "U3"})
    why = refusal("U2", "U1", stage, members, signed={"U2"}, what="stage 2 of 2 (Senior)")
    assert why == (
        "You already signed for this run, so someone else has to decide stage 2 of 2 "
        "(Senior): <@U2> or <@U3>."
    )
    assert refusal("U3", "U1", stage, members, signed={"U2"}) is None


def test_who_may_lists_people_and_groups():
    assert who_may(Stage(approvers=("U2",)), "U1") == "<@U2>"
    assert (
        who_may(Stage(approvers=("U2", "U3", "S9")), "U1")
        == "<@U2>, <@U3> or members of <!subteam^S9>"
    )
    assert who_may(Stage(), "U1") == "<@U1>"


def test_unresolvable_groups_fail_closed_and_still_say_who():
    stage = Stage(approvers=("S9",))
    why = refusal("U3", "U1", stage, None)
    assert "couldn't check" in why and "members of <!subteam^S9>" in why

    def broken(group):
        raise RuntimeError("slack down")

    assert Directory(broken).refusal("U3", "U1", stage) is not None


def test_groups_are_resolved_and_cached_per_group():
    calls = []

    def members(group):
        calls.append(group)
        return {"S9": ["U7"], "S8": ["U8"]}[group]

    directory = Directory(members)
    assert directory.refusal("U7", "U1", Stage(approvers=("U2", "S9"))) is None
    assert directory.refusal("U7", "U1", Stage(approvers=("U2", "S9"))) is None
    assert directory.refusal("U8", "U1", Stage(approvers=("S8",))) is None
    assert directory.refusal("U7", "U1", Stage(approvers=("S8",))) is not None
    assert calls == ["S9", "S8"]


def test_group_cache_expires_after_its_ttl():
    answers = iter([["U7"], ["U9"]])
    directory = Directory(lambda group: next(answers), ttl=0.0)
    assert directory.members(("S9",)) == frozenset({"U7"})
    assert directory.members(("S9",)) == frozenset({"U9"})


def test_approvers_are_mentioned_as_users_and_groups():
    from bot.slack.blocks.notices import mentions

    assert mentions(("U2", "S9")) == "<@U2> <!subteam^S9>"


def test_a_second_signature_with_nobody_but_the_requester_allowed_says_what_to_set():
    why = refusal("U1", "U1", Stage(), frozenset(), signed={"U1"})
    assert why == (
        "This run needs a second person to sign this request, but only <@U1> may decide it: "
        "list approvers in APPROVERS or in the policy file."
    )


def test_a_second_voice_of_one_hand_is_told_whom_it_already_voted_as():
    stage = Stage(approvers=("U2", "U3"))
    here = deciders.Refusal(deciders.Why.VOTED_AS_ANOTHER, stage, "U1", voted_as="U2", token="desk")
    assert refusal_text(here) == (
        "Nothing changed: you already voted on this request as <@U2> (through the API token "
        "`desk`). A person and their API token count as one signer, whoever the token names."
    )
    elsewhere = deciders.Refusal(deciders.Why.SIGNED_AS_ANOTHER, stage, "U1", voted_as="U3")
    assert refusal_text(elsewhere).startswith(
        "Nothing changed: you already signed another part of this run as <@U3>. A person"
    )
