"""What a run shows in Slack: its cards (posted, redrawn, re-posted after a crash) and what is
said in its thread (notes, the outcome). The engine decides *when*; this says it."""

from __future__ import annotations

import logging
from typing import Any

from bot.agents.traces import TraceLinks
from bot.core.ledger import Ledger
from bot.core.models import Approval, Decision, Run
from bot.core.tally import Signing
from bot.core.timeline import PlannedJob
from bot.slack.blocks import notices, progress
from bot.slack.blocks.card import trace_link
from bot.slack.blocks.text import escape
from bot.slack.client import Slack
from bot.store.db import Database
from bot.store.repository import Store

logger = logging.getLogger(__name__)


class Cards:
    def __init__(
        self,
        store: Store,
        slack: Slack,
        signing: Signing,
        db: Database,
        ledger: Ledger,
        links: TraceLinks | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.signing = signing
        self.db = db
        self.ledger = ledger
        self.links = links or TraceLinks(None)

    def progress(self, approval: Approval) -> tuple[tuple[str, ...], Decision | None]:
        """The card's lines about sign-off (round, earlier stages, approvals so far) and an
        edit that stands while the request collects approvals, to show instead."""
        now = self.signing.progress(approval)
        return progress.lines(approval, now.sign_off, now.votes), now.edit

    def post(self, approval: Approval) -> None:
        lines, edit = self.progress(approval)
        channel, ts = self.slack.post_card(approval, self.notes(approval), lines, edit)
        self.store.set_card(approval.id, channel, ts)

    def notes(self, approval: Approval) -> tuple[str, ...]:
        """Deadline and escalation lines for a pending card, and its trace when traced."""
        return notices.card_notes(self.store.jobs_for(approval.id)) + self.trace_link(approval)

    def trace_link(self, approval: Approval) -> tuple[str, ...]:
        """The trace of the step that asked (LangSmith), when tracing is on."""
        if not self.links.enabled:
            return ()
        run = self.store.get_run(approval.thread_id)
        url = self.links.url(run.trace_id if run else None)
        return (trace_link(url),) if url else ()

    def draw(self, approval: Approval) -> None:
        """Redraw the card: pending with its deadlines and sign-off so far, or decided."""
        lines, edit = self.progress(approval)
        notes = self.notes(approval) if approval.pending else ()  # a decided card has none
        self.slack.refresh_card(approval, notes, lines, edit)

    def refresh(self, approval: Approval) -> None:
        """:meth:`draw`; when Slack still fails after slack_sdk's own retries, leave a job so
        the scheduler keeps trying."""
        try:
            self.draw(approval)
        except Exception:
            logger.exception("could not update card %s; queued a retry", approval.id)
            self.store.add_job(approval.id, PlannedJob("refresh", self.store.clock()))

    def note_edit(self, run: Run, approval: Approval) -> None:
        """An edit's before and after, once, in the run's thread (the card shows only after)."""
        note = notices.edit_note(approval)
        if note is None:
            return
        try:
            self.ledger.once(f"{approval.id}:edit-note", lambda: self.say(run, note))
        except Exception:
            logger.exception("could not post the edit note of request %s", approval.id)

    def report(self, run: Run, report: str, card: Approval | None = None) -> str:
        """The run's outcome: in its card's thread, else to the requester in its channel.
        ``card``: the run's latest card, when the caller has it at hand."""
        text = escape(report)
        if card is None:
            card = self.store.latest_card(run.thread_id)
        if card is not None and card.ts is not None:
            return self.slack.reply(card.channel, card.thread_ts or card.ts, text)
        return self.slack.reply(run.channel, None, f"<@{run.requester}> {text}")

    def say(self, run: Run, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
        """Our own text (already safe) in the run's thread."""
        card = self.store.latest_card(run.thread_id)
        if card is not None and card.ts is not None:
            return self.slack.reply(card.channel, card.thread_ts or card.ts, text, blocks)
        return self.slack.reply(run.channel, None, text, blocks)
