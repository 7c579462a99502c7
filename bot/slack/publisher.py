"""The engine's two Slack ports (:mod:`bot.core.ports`): what a run shows in Slack
(:class:`~bot.core.ports.Publisher`: cards through :mod:`bot.slack.card_publisher` and
:mod:`bot.slack.card_posts`, notes in the run's thread) and what a clicker is told of their
click (:class:`~bot.core.ports.Answers`: an ephemeral, :mod:`bot.slack.blocks.outcomes`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.outcomes import Outcome, Retry
from bot.core.ports import PostOutcome, StageCall
from bot.domain.models import Approval, CardPost, Run
from bot.slack.blocks import notices, outcomes
from bot.slack.blocks.rules import by_rule_line
from bot.slack.blocks.text import safe
from bot.slack.card_posts import CardPosts
from bot.slack.card_publisher import Cards
from bot.slack.client import Slack
from bot.store.rules import Rule

logger = logging.getLogger(__name__)


@dataclass
class SlackPublisher:
    slack: Slack
    cards: Cards
    card_posts: CardPosts

    # Publisher ------------------------------------------------------------------------------
    def post(self, approval: Approval) -> PostOutcome:
        return self.card_posts.post(approval)

    def ensure(self, approval: Approval) -> PostOutcome | None:
        return self.card_posts.ensure(approval)

    def due_window(self) -> tuple[int, int]:
        return self.card_posts.limit, self.card_posts.per_channel

    def refresh(
        self, approval: Approval, posts: Sequence[CardPost] | None = None, locked: bool = False
    ) -> None:
        self.cards.refresh(approval, posts, locked)

    def note_edit(self, run: Run, approval: Approval) -> None:
        self.cards.note_edit(run, approval)

    def report(self, run: Run, report: str, card: Approval | None = None) -> str:
        return self.cards.report(run, report, card)

    def run_failed(self, run: Run, problem: str, decided: bool, attempts: int) -> str:
        """The requester hears of the error in the run's thread, with a Retry button."""
        detail, _ = safe(problem, 500)
        head = f"<@{run.requester}> :warning: run `{run.thread_id[:8]}` hit an error: {detail}"
        if decided and attempts > 1:
            text = (
                f"{head}\nThe decision is recorded, but applying it failed "
                f"{attempts} times. Retry when it's fixed."
            )
        elif decided:  # given up at once (bot.core.applying): not repeated by the sweep
            text = (
                f"{head}\nThe decision is recorded, but applying it failed, and it is not "
                "tried again by itself: the step may have acted before it failed. Check, then "
                "Retry when it's fixed."
            )
        else:
            text = f"{head}\nNothing was decided or done after the error. Retry when it's fixed."
        return self.cards.say(run, text, notices.retry_blocks(text, run.thread_id))

    def server_away(self, run: Run, problem: str, decided: bool) -> str:
        return self.cards.say(run, notices.server_away(run.requester, problem, decided))

    def agent_refused(self, run: Run, approval: Approval, claimed: Approval) -> str:
        decision = claimed.decision
        by = decision.by if decision is not None and decision.by != "scheduler" else None
        expired = decision is not None and decision.type == "expire"
        return self.cards.say(run, notices.agent_refused(approval, by, expired))

    def next_stage(self, approval: Approval, call: StageCall, edited_by: str | None) -> None:
        """The next stage's people hear of it in the card's thread (mentioned, so notified),
        and get the card where that stage's cards go when that is somewhere new."""
        if approval.ts is None:
            return
        posted: list[tuple[str, str]] = []
        try:
            posted = self.cards.spread(approval)
        except Exception:
            logger.exception("request %s: the next stage's cards were not posted", approval.id)
        if approval.channel.startswith("D"):  # cards in DMs only: each copy is its own note
            return
        elsewhere = [channel for channel, _ in posted if not channel.startswith("D")]
        where = (
            f"Its card is in <#{elsewhere[0]}>."
            if elsewhere
            else "Please decide on the card above."
        )
        note = f"{outcomes.next_stage(call)} {where}"
        if edited_by is not None:
            note = f"<@{edited_by}> edited this request, so it goes back a stage. " + note
        self.slack.reply(approval.channel, approval.thread_ts or approval.ts, note)

    def cancelled(self, run: Run, by: str) -> str:
        short = f"`{run.thread_id[:8]}`"
        return self.cards.say(run, f"Run {short} was cancelled by <@{by}>. Nothing more will run.")

    def by_rule(self, run: Run, approval: Approval, rule: Rule) -> str:
        return self.cards.say(run, by_rule_line(approval, rule))

    def card_link(self, approval: Approval) -> str | None:
        return self.slack.permalink(approval.channel, approval.ts) if approval.ts else None

    def retire_copy(self, approval: Approval, ts: str, link: str | None) -> None:
        self.slack.retire_copy(approval.channel, ts, link)

    # Answers --------------------------------------------------------------------------------
    def answer(self, outcome: Outcome | Retry, channel: str | None, user: str) -> None:
        """An ephemeral to the person who clicked, unless there is nothing to say."""
        text = outcomes.sentence(outcome)
        if text is None:
            return
        # Not a member there (a click that came from someone else's DM copy, which Slack
        # would not show them): they hear it in their own DM with the app instead.
        self.slack.tell_or_dm(outcomes.where(outcome, channel, user), user, text)
