"""The lines a card shows about its sign-off: which round and stage it is, who signed before,
and how many approvals it has of how many it needs. Pure: records in, mrkdwn lines out."""

from __future__ import annotations

from bot.domain.models import Approval
from bot.domain.signoff import SignOff, Stage
from bot.domain.votes import Tally, Vote, tally
from bot.slack.blocks.decided import people
from bot.slack.blocks.text import safe


def needed(count: Tally, stage: Stage, who: str) -> str:
    """ "1 of 2 approvals so far; it needs 1 more from <who>." """
    have, left = len(count.approvals), stage.quorum - len(count.approvals)
    if left <= 0:
        return f"{have} of {stage.quorum} approvals: this stage is signed."
    return f"{have} of {stage.quorum} approvals so far; it needs {left} more from {who}."


def lines(approval: Approval, sign_off: SignOff, votes: list[Vote]) -> tuple[str, ...]:
    out: list[str] = []
    if sign_off.round > 1:
        previous = f" · previous round: {sign_off.previous}" if sign_off.previous else ""
        out.append(f"*Round {sign_off.round}*{previous}")
    for signed in sign_off.earlier:
        out.append(f"{safe(signed.stage, 80)[0]} signed by {people(signed.by)}")
    for index in range(min(approval.stage, len(sign_off.stages))):
        by = tally(votes, index).approvals
        out.append(f"{safe(sign_off.label(index), 80)[0]} signed by {people(by)}")
    if not approval.pending and approval.status not in ("expired",):
        return tuple(out)
    index = min(approval.stage, len(sign_off.stages) - 1)
    stage, label = sign_off.stages[index], sign_off.label(index)
    if label and sign_off.total > 1 and approval.pending:
        out.append(f"*{safe(label, 80)[0]}*")
    if not sign_off.counted:
        return tuple(out)
    count = tally(votes, index)
    if stage.quorum > 1 or sign_off.total > 1:
        names = f": {people(count.approvals)}" if count.approvals else ""
        out.append(f"{len(count.approvals)} of {stage.quorum} approvals{names}")
    if stage.rejections > 1 and count.rejections:
        out.append(f"{len(count.rejections)} of {stage.rejections} rejections needed to reject")
    edits = [v for v in votes if v.vote == "edit" and not v.void]
    if edits and approval.pending:
        out.append(
            f"Version {approval.version}, edited by <@{edits[-1].voter}>: shown as edited; "
            "votes on the earlier version no longer count"
        )
    return tuple(out)
