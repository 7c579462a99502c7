from bot.policy import Approvers, Rules, refusal


def test_without_approvers_only_the_requester_decides():
    rules = Rules(())
    assert refusal("U1", "U1", rules, frozenset()) is None
    assert "Only <@U1>" in refusal("U2", "U1", rules, frozenset())


def test_with_approvers_only_listed_people_and_never_self_by_default():
    rules = Rules(("U2", "S9"))
    members = frozenset({"U2", "U3"})
    assert refusal("U2", "U1", rules, members) is None
    assert refusal("U3", "U1", rules, members) is None
    assert "not on the approvers list" in refusal("U4", "U1", rules, members)
    assert "someone else" in refusal("U2", "U2", rules, members)
    assert refusal("U2", "U2", Rules(("U2",), allow_self_approval=True), members) is None


def test_unresolvable_groups_fail_closed():
    rules = Rules(("S9",))
    assert "couldn't check" in refusal("U3", "U1", rules, None)

    def broken(group):
        raise RuntimeError("slack down")

    assert Approvers(rules, broken).refusal("U3", "U1") is not None


def test_groups_are_resolved_and_cached():
    calls = []

    def members(group):
        calls.append(group)
        return ["U7"]

    approvers = Approvers(Rules(("U2", "S9")), members)
    assert approvers.refusal("U7", "U1") is None
    assert approvers.refusal("U7", "U1") is None
    assert calls == ["S9"]


def test_approvers_are_mentioned_as_users_and_groups():
    from bot.blocks.notices import mentions

    assert mentions(("U2", "S9")) == "<@U2> <!subteam^S9>"
