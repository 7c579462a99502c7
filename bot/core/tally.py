"""Sign-off as the engine sees it: the sign-off a new request gets (with what came before it
in its run), who may sign it now, what a click counts as, and where its signing stands
(:class:`Progress`, which the card renders)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from bot.core import outcomes
from bot.core.deciders import Directory, Refusal, Why
from bot.core.outcomes import VoteRecorded
from bot.core.routing import destination
from bot.domain.models import Approval, Decision, Run, Waiting
from bot.domain.signoff import SIGNING, Signed, SignOff, SignOffs, Stage
from bot.domain.votes import Vote, tally, vote_kind
from bot.store.db.base import Database
from bot.store.decisions import Ballot
from bot.store.repository import Store


@dataclass(frozen=True)
class Progress:
    """Where a request's signing stands: its sign-off, the votes cast (when it counts votes)
    and an edit that stands while it collects approvals (shown instead of the original)."""

    sign_off: SignOff
    votes: list[Vote]
    edit: Decision | None


@dataclass(frozen=True)
class _Votes:
    """What a click's checks read of the run's votes: this request's (void ones too: one voice,
    every version), and the standing signing votes of each other part, by request id."""

    own: list[Vote]
    parts: dict[str, list[Vote]]


@dataclass
class SignOffTally:
    """The sign-off of each request, kept: planned for a new request, who may sign it now
    (``refusal``), what a click counts as (``vote_kind``), the edit that stands, and the lock
    its checks and claim are made under (``guard``). (Named for what it keeps: "signing" in
    Slack code means request signatures.)"""

    store: Store
    db: Database
    directory: Directory
    signoffs: SignOffs
    # How a decided request reads as "the previous round" of the next (the edge's words,
    # kept with the new request's sign-off): bot.slack.blocks.decided.outcome_line.
    summarize: Callable[[Approval], str] = lambda approval: approval.status
    # Each API token's own Slack user, by the token's name (bot.config.principals): a token
    # and its user are one hand, whoever the token names.
    holders: Mapping[str, str] = field(default_factory=dict)

    # a new request ------------------------------------------------------------------------
    def plan(self, run: Run, value: Any, node: str) -> tuple[SignOff, str | None]:
        """The sign-off of a request the run now waits on, and the thread its card goes in
        (a later round or stage of a run replies under the run's first card)."""
        sign_off = self.signoffs.for_request(run.graph, value, node)
        earlier = self.store.run_approvals(run.thread_id)
        posted = [a for a in earlier if a.ts is not None]
        later = any(not a.pending for a in earlier)  # not a card posted beside its siblings
        # Only where the run's first card is: a request routed elsewhere starts a thread there.
        here = destination(sign_off.stages[0], run.approvals_channel).channel
        thread_ts = None
        if posted and later and posted[0].channel == here:
            thread_ts = posted[0].thread_ts or posted[0].ts
        staged = tuple(
            Signed(_stage_label(a), tuple(a.signers))
            for a in earlier
            if a.signers and a.signoff is not None and a.signoff.total > 1
        )
        sign_off = replace(sign_off, earlier=staged, asked_by=run.hand)
        decided = [a for a in earlier if not a.pending and a.decision is not None]
        if decided and _asked_for_changes(decided[-1]):
            previous = decided[-1]
            number = (previous.signoff.round if previous.signoff else 1) + 1
            sign_off = replace(sign_off, round=number, previous=self.summarize(previous))
        return sign_off, thread_ts

    # a click ------------------------------------------------------------------------------
    def guard(self, approval: Approval) -> Any:
        """Held while a click is checked and counted, where who signed the run's other requests
        matters: two requests of one run cannot both be signed by one person at once."""
        if self.guarded(approval):
            return self.db.key_lock(f"signoff:{approval.thread_id}")
        return nullcontext()

    def guarded(self, approval: Approval) -> bool:
        """Whether a click on ``approval`` is checked and counted under :meth:`guard`'s lock: a
        request of its run signed by distinct people (this one or another: nobody signs both),
        or one signed in stages or by a quorum. Otherwise it is claimed ``alone``
        (``Store.claim``), which a distinct request recorded in its run meanwhile makes lose."""
        sign_off = approval.signoff or SignOff()
        distinct = sign_off.distinct or approval.distinct_run
        return distinct or sign_off.total > 1 or sign_off.counted

    def refusal(self, approval: Approval, user: str, token: str | None = None) -> Refusal | None:
        """Why ``user`` may not decide ``approval`` now, or None when they may. ``token``: the
        API token naming ``user`` (``Decision.on_behalf_of``), when one does. Every door asks
        this, under :meth:`guard`, before a click counts."""
        sign_off, stage = self.stage_of(approval)
        what = sign_off.what(min(approval.stage, len(sign_off.stages) - 1))
        parts = self._other_parts(approval, sign_off)
        votes = _Votes(  # each request's votes read once, for both checks
            self.store.votes(approval.id) if sign_off.counted else [],
            {other.id: self._signing_votes(other) for other in parts},
        )
        signed = self._signed_elsewhere(approval, sign_off, parts, votes)
        hand = self._hand(user, token)
        why = self.directory.refusal(
            user, approval.requester, stage, signed, what, hand, sign_off.asked_by
        )
        if why is not None or not (sign_off.counted or parts):
            return why
        return self._second_voice(approval, parts, votes, user, token, (stage, what))

    def stage_of(self, approval: Approval | Waiting) -> tuple[SignOff, Stage]:
        sign_off = self.sign_off(approval)
        return sign_off, sign_off.stages[min(approval.stage, len(sign_off.stages) - 1)]

    def sign_off(self, approval: Approval | Waiting) -> SignOff:
        """A request recorded before sign-off policies existed is signed by today's defaults."""
        if approval.signoff is not None:
            return approval.signoff
        return self.signoffs.for_request(approval.graph, approval.payload.get("value"))

    def settles_counted(self, approval: Approval, decision: Decision) -> bool:
        """Whether ``decision`` settles a request that counts votes at once, with no vote of its
        own (Ignore, a graph's own button)."""
        return self.sign_off(approval).counted and vote_kind(decision) is None

    def vote_kind(self, approval: Approval, decision: Decision) -> str | None:
        """``approve``/``edit``/``reject`` when the click is one vote among several; None when
        it settles the request by itself."""
        return vote_kind(decision) if self.sign_off(approval).counted else None

    def _other_parts(self, approval: Approval, sign_off: SignOff) -> list[Approval]:
        """The run's other requests whose signers may not sign this one: all of them
        (``distinct``), those signed by distinct people (an action's ``distinct`` holds for
        its run's other requests too), and those of other stages of this stage's section;
        none where a person may sign every part."""
        if sign_off.joint:  # the stage's own section's stages, not the card's other sections'
            stage = sign_off.stages[min(approval.stage, len(sign_off.stages) - 1)]
            staged, mine = stage.part is not None and stage.part_total > 1, stage.part_first
        else:
            staged, mine = sign_off.total > 1, sign_off.first
        if not sign_off.distinct and not staged and not approval.distinct_run:
            return []
        return [
            other
            for other in self.store.run_approvals(approval.thread_id)
            if other.id != approval.id
            and (
                sign_off.distinct
                or self.sign_off(other).distinct
                or (staged and (other.signoff is None or _elsewhere(other.signoff, mine)))
            )
        ]

    def _signed_elsewhere(
        self, approval: Approval, sign_off: SignOff, parts: list[Approval], votes: _Votes
    ) -> set[str]:
        """Who may not sign this request because they signed another part of the run: an
        earlier stage of this request, or another of ``parts`` -- decided, or still collecting
        votes (two requests open at once cannot both count one person's approval)."""
        signed: set[str] = set()
        if len(sign_off.stages) > 1:
            # Any other stage of this request (an edit may have sent it back to an earlier
            # one, with the editor's vote standing at a later one) -- on a joint card, any
            # other of this stage's section: one person may sign for several sections.
            mine = sign_off.stages[min(approval.stage, len(sign_off.stages) - 1)]
            for index, stage in enumerate(sign_off.stages):
                same = not sign_off.joint or (stage.part is not None and stage.part == mine.part)
                if index != approval.stage and same:
                    signed.update(tally(votes.own, index).approvals)
        for other in parts:
            signed.update(other.signers)
            if other.pending:
                signed.update(v.voter for v in votes.parts[other.id])
        return signed

    def _second_voice(
        self,
        approval: Approval,
        parts: list[Approval],
        votes: _Votes,
        user: str,
        token: str | None,
        asked: tuple[Stage, str],
    ) -> Refusal | None:
        """One hand, one voice: refused when the hand behind this click (the person, or the
        API token and its own user) already voted on this request as somebody else, or signed
        another of ``parts`` as somebody else. Void votes too: one voice, every version."""
        hand = self._hand(user, token)

        def other_name(voter: str, decision: Decision) -> bool:
            return voter != user and self._cast_by(voter, decision) == hand

        def refused(why: Why, voter: str, decision: Decision) -> Refusal:
            stage, what = asked
            return Refusal(why, stage, approval.requester, what, voter, decision.on_behalf_of)

        for vote in votes.own:
            if other_name(vote.voter, vote.decision):
                return refused(Why.VOTED_AS_ANOTHER, vote.voter, vote.decision)
        for other in parts:
            decided = other.decision
            signed = decided is not None and decided.by in other.signers
            if decided is not None and signed and other_name(decided.by, decided):
                return refused(Why.SIGNED_AS_ANOTHER, decided.by, decided)
            for vote in votes.parts[other.id]:
                if other_name(vote.voter, vote.decision):
                    return refused(Why.SIGNED_AS_ANOTHER, vote.voter, vote.decision)
        return None

    def _hand(self, voter: str, token: str | None) -> str:
        """Whose hand casts a vote now: the API token's own user when a token names the voter."""
        if token is None:
            return voter
        return self.holders.get(token, f"token:{token}")

    def _cast_by(self, voter: str, decision: Decision) -> str:
        """Whose hand cast a recorded vote: its token's holder as recorded with it (votes cast
        before that was recorded: as the token is held today)."""
        if decision.on_behalf_of is not None and decision.hand is not None:
            return decision.hand
        return self._hand(voter, decision.on_behalf_of)

    def _signing_votes(self, approval: Approval) -> list[Vote]:
        if not self.sign_off(approval).counted:
            return []
        return [v for v in self.store.votes(approval.id) if v.vote in SIGNING and not v.void]

    # where it stands ------------------------------------------------------------------------
    def progress(self, approval: Approval) -> Progress:
        """The request's sign-off, its votes so far and the edit that stands, if any."""
        sign_off = self.sign_off(approval)
        votes = self.store.votes(approval.id) if sign_off.counted else []
        edit = standing(votes) if approval.pending else None
        return Progress(sign_off, votes, edit)

    def standing_edit(self, approval: Approval, quick: bool = False) -> Decision | None:
        """The edit the request's signers are now asked to sign, if someone edited it.
        ``quick``: before an ack (a submission's), read under the limits of one."""
        if not self.sign_off(approval).counted:
            return None
        return standing(self.store.votes(approval.id, quick=quick))

    def rejected_by_someone(self, approval: Approval) -> bool:
        """Whether a rejection stands on the request (one of fewer than ``rejections``): an
        approver looked at the version on the card and said no."""
        if not self.sign_off(approval).counted:
            return False
        return any(v.vote == "reject" and not v.void for v in self.store.votes(approval.id))

    def receipt(self, approval: Approval, ballot: Ballot) -> VoteRecorded:
        """What a click that counted but did not settle the request did: the votes of its
        stage, and the stage the request now waits on."""
        sign_off, stage = self.stage_of(approval)
        count = tally(ballot.votes, ballot.approval.stage if ballot.approval else 0)
        kind = COUNTED.get(ballot.outcome, "counted")
        return VoteRecorded(approval, kind, count, stage, sign_off.label(approval.stage))


# A store's ballot that counted, as the outcome names it.
COUNTED: dict[str, outcomes.Ballot] = {
    "duplicate": "duplicate",
    "advanced": "advanced",
    "returned": "returned",
    "counted": "counted",
}


def _elsewhere(other: SignOff, mine: int) -> bool:
    """Whether ``other`` carries a stage at another place than ``mine`` among its section's
    stages. A joint card's own ``first`` is always 0: its stages say where each sits (a later
    stage sharing a card with another section's call is still a later stage)."""
    if other.joint:
        return any(s.part_first != mine for s in other.stages)
    return other.first != mine


def standing(votes: list[Vote]) -> Decision | None:
    """The latest edit no later edit set aside, of any stage."""
    edits = [v.decision for v in votes if v.vote == "edit" and not v.void]
    return edits[-1] if edits else None


def _stage_label(approval: Approval) -> str:
    sign_off = approval.signoff or SignOff()
    return sign_off.label(0) or "Approval"


def _asked_for_changes(approval: Approval) -> bool:
    """Decided with one of the graph's own buttons (say "Request changes"), not yes or no."""
    decision = approval.decision
    extra = approval.review.extra if approval.review else ()
    return decision is not None and decision.type in {c.name for c in extra}
