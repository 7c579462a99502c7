"""A card whose calls several policy sections govern (a joint sign-off) keeps each section's
own rule that one person signs one of its stages: one person may sign for several sections,
never for two stages of one. A harmless call added beside a guarded one (by the model, or by
a prompt injection) must not weaken the guarded one's sign-off."""

from __future__ import annotations

from bot.core import outcomes
from bot.core.deciders import Why
from bot.core.ports import RunState
from bot.domain.models import Decision
from bot.domain.review import Pending
from bot.domain.signoff import Section, SignOffs, Stage
from tests.support.units import EngineParts, FakeGraph, engine_parts

FINANCE = ("U0A", "U0B")
WIRE = Section(
    base=Stage(approvers=FINANCE),
    stages=(Stage(name="Finance", approvers=FINANCE), Stage(name="Controller", approvers=FINANCE)),
)
LOOKUP = Section(Stage(approvers=("U0LOOK",)))


def _calls(*names: str) -> dict:
    return {"action_requests": [{"name": n, "args": {}} for n in names]}


def _approve(parts: EngineParts, approval_id: str, user: str) -> outcomes.Outcome:
    current = parts.approval(approval_id)
    return parts.engine.decide(approval_id, Decision("approve", user, version=current.version))


def _wire_parts(db, clock, *names: str) -> EngineParts:
    parts = engine_parts(db, clock, graph=FakeGraph(value=_calls(*names)))
    parts.tally.signoffs = SignOffs(LOOKUP, actions={"wire_money": WIRE})
    return parts


def test_alone_one_person_cannot_sign_both_stages_of_a_section(db, clock):
    parts = _wire_parts(db, clock, "wire_money")
    try:
        [approval] = parts.pending(parts.start())
        assert isinstance(_approve(parts, approval.id, "U0A"), outcomes.VoteRecorded)
        refused = _approve(parts, approval.id, "U0A")
        assert isinstance(refused, outcomes.Refused) and refused.refusal.why is Why.SIGNED_BEFORE
        assert parts.graph.answers == []
    finally:
        parts.close()


def test_beside_another_section_s_call_one_person_still_signs_one_stage_of_each(db, clock):
    parts = _wire_parts(db, clock, "lookup_order", "wire_money")
    try:
        [approval] = parts.pending(parts.start())
        assert approval.signoff.joint and len(approval.signoff.stages) == 3
        assert isinstance(_approve(parts, approval.id, "U0LOOK"), outcomes.VoteRecorded)
        assert isinstance(_approve(parts, approval.id, "U0A"), outcomes.VoteRecorded)  # Finance
        refused = _approve(parts, approval.id, "U0A")  # Controller: the same section
        assert isinstance(refused, outcomes.Refused) and refused.refusal.why is Why.SIGNED_BEFORE
        assert parts.approval(approval.id).pending and parts.graph.answers == []
        # A second person of the section signs its second stage: now it runs, once.
        assert isinstance(_approve(parts, approval.id, "U0B"), outcomes.Applied)
        assert len(parts.graph.answers) == 1
    finally:
        parts.close()


def test_one_person_may_sign_for_two_sections_of_one_card(db, clock):
    # The rule is per section: someone listed in both signs one stage of each.
    parts = engine_parts(db, clock, graph=FakeGraph(value=_calls("lookup_order", "wire_money")))
    lookup = Section(Stage(approvers=("U0A",)))
    parts.tally.signoffs = SignOffs(lookup, actions={"wire_money": WIRE})
    try:
        [approval] = parts.pending(parts.start())
        assert isinstance(_approve(parts, approval.id, "U0A"), outcomes.VoteRecorded)  # lookup
        assert isinstance(_approve(parts, approval.id, "U0A"), outcomes.VoteRecorded)  # Finance
        assert isinstance(_approve(parts, approval.id, "U0B"), outcomes.Applied)  # Controller
    finally:
        parts.close()


CLINIC = ("U0P", "U0Q")
ORDERS = Section(
    base=Stage(approvers=CLINIC),
    stages=(
        Stage(name="Clinician", approvers=CLINIC, at="safety_check"),
        Stage(name="Senior clinician", approvers=CLINIC, at="finalize"),
    ),
)


class TwoPauses(FakeGraph):
    """A run paused at two nodes at once, one stage of ORDERS each; the second pause also
    asks to notify someone, a call another section governs."""

    def waiting(self) -> RunState:
        first = _calls("prescribe")
        second = _calls("prescribe", "notify")
        pauses = (Pending("i1", first, node="safety_check"), Pending("i2", second, node="finalize"))
        return RunState(started=True, finished=False, interrupts=pauses)


def _clinic_parts(db, clock, notify_by: tuple[str, ...]) -> EngineParts:
    parts = engine_parts(db, clock, graph=TwoPauses())
    parts.tally.signoffs = SignOffs(
        Section(Stage(approvers=("U0P",))),
        graphs={"draft": ORDERS},
        actions={"notify": Section(Stage(approvers=notify_by))},
    )
    return parts


def _later_stage_signed(parts: EngineParts, first: str, second: str) -> outcomes.Outcome:
    """U0P signs the first stage's request; the second stage's is refused to them, then
    signed by U0Q: what that signature came to."""
    assert isinstance(_approve(parts, first, "U0P"), outcomes.Applied)
    refused = _approve(parts, second, "U0P")
    assert isinstance(refused, outcomes.Refused) and refused.refusal.why is Why.SIGNED_BEFORE
    return _approve(parts, second, "U0Q")


def test_a_later_stage_on_a_joint_card_is_refused_to_who_signed_the_earlier_stage(db, clock):
    parts = _clinic_parts(db, clock, notify_by=("U0N",))
    try:
        first, second = sorted(parts.pending(parts.start()), key=lambda a: a.interrupt_id)
        assert first.signoff.total == 2 and not first.signoff.joint
        assert second.signoff.joint
        assert isinstance(_later_stage_signed(parts, first.id, second.id), outcomes.VoteRecorded)
    finally:
        parts.close()


def test_a_later_stage_merged_with_a_same_people_section_is_still_that_stage(db, clock):
    # The notify section lists the same people: the card's two sections merge into one stage,
    # which is still the Senior clinician's stage 2 of 2 of ORDERS.
    parts = _clinic_parts(db, clock, notify_by=CLINIC)
    try:
        first, second = sorted(parts.pending(parts.start()), key=lambda a: a.interrupt_id)
        assert len(second.signoff.stages) == 1 and second.signoff.first == 1
        assert isinstance(_later_stage_signed(parts, first.id, second.id), outcomes.Applied)
    finally:
        parts.close()


def test_the_earlier_stage_is_refused_to_who_signed_the_later_stage_on_a_joint_card(db, clock):
    """The other order: U0P signs the later stage (on the card it shares with another
    section's call) first, then the earlier one. A joint card's stages say where each sits."""
    parts = _clinic_parts(db, clock, notify_by=("U0N",))
    try:
        first, second = sorted(parts.pending(parts.start()), key=lambda a: a.interrupt_id)
        assert second.signoff.joint and not first.signoff.joint
        assert isinstance(_approve(parts, second.id, "U0P"), outcomes.VoteRecorded)
        assert isinstance(_approve(parts, second.id, "U0N"), outcomes.Applied)
        refused = _approve(parts, first.id, "U0P")
        assert isinstance(refused, outcomes.Refused) and refused.refusal.why is Why.SIGNED_BEFORE
        assert isinstance(_approve(parts, first.id, "U0Q"), outcomes.Applied)
    finally:
        parts.close()
