"""What a run shows in Slack: its cards (posted, redrawn, re-posted after a crash) and what is
said in its thread (notes, the outcome). The engine decides *when*; this says it."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from slack_sdk.errors import SlackApiError

from bot.agents.traces import TraceLinks
from bot.core.ledger import Ledger
from bot.core.routing import Destination, destination, dm_people
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, CardPost, Decision, Run
from bot.domain.timeline import PlannedJob
from bot.slack.blocks import notices, progress
from bot.slack.blocks.card import trace_link
from bot.slack.blocks.deciders import who_may
from bot.slack.blocks.text import escape
from bot.slack.client import Slack
from bot.store.db import Database
from bot.store.repository import Store

logger = logging.getLogger(__name__)
Place = tuple[str, str]  # a message: its channel and ts


def _for_now(exc: Exception) -> bool:
    """Whether Slack may take the same copy later (not a refusal for good)."""
    if isinstance(exc, SlackApiError) and exc.response is not None:
        return exc.response.get("error") not in GONE
    return True


# Slack's answers that the same DM would get again: the person is no one the app can write to.
GONE = frozenset({"user_not_found", "user_disabled", "cannot_dm_bot", "not_allowed"})


def settled(approval: Approval) -> bool:
    """Whether the request can never be pending again: its decision applied, or final."""
    if approval.pending:
        return False
    return approval.applied_at is not None or approval.status in ("cancelled", "failed")


class NoOneToAsk(RuntimeError):
    """No card of a request could be posted anywhere (say, a DM-only stage whose user group
    could not be resolved): tried again after a backoff, as a failed post is."""


# Times a card is drawn again because its request moved on while it was being drawn.
MAX_REDRAWS = 3


class Cards:
    def __init__(
        self,
        store: Store,
        slack: Slack,
        tally: SignOffTally,
        db: Database,
        ledger: Ledger,
        links: TraceLinks | None = None,
    ) -> None:
        self.store = store
        self.slack = slack
        self.tally = tally
        self.db = db
        self.ledger = ledger
        self.links = links or TraceLinks(None)

    def progress(self, approval: Approval) -> tuple[tuple[str, ...], Decision | None]:
        """The card's lines about sign-off (round, earlier stages, approvals so far) and an
        edit that stands while the request collects approvals, to show instead."""
        now = self.tally.progress(approval)
        return progress.lines(approval, now.sign_off, now.votes), now.edit

    def post(self, approval: Approval) -> None:
        """Post a pending request's cards where its stage goes (bot.core.routing): its card in
        a channel, a copy to each decider's direct messages, or both; the first is the card
        its thread, reminders and escalations hang on. Raises when none could be posted."""
        run = self.store.get_run(approval.thread_id)
        stage = self.tally.stage_of(approval)[1]
        where = destination(stage, run.approvals_channel if run else approval.channel)
        self.spread(approval, where)
        # Everything posted, now or by an attempt a crash cut short: a channel's card first.
        posted = [(p.channel, p.ts) for p in self.store.card_posts(approval.id) if p.kind == "card"]
        posted.sort(key=lambda place: place[0].startswith("D"))
        if not posted:
            raise NoOneToAsk(f"request {approval.id}: nobody to send its card to")
        self.store.set_card(approval.id, *posted[0])
        # Told where only when it is not where they asked (APPROVALS_CHANNEL alone never is).
        elsewhere = where.channel != (run.channel if run else None)
        if run is not None and elsewhere and (where.dm or stage.channel is not None):
            self._tell_requester(run, replace(approval, channel=posted[0][0], ts=posted[0][1]))

    def spread(
        self, approval: Approval, where: Destination | None = None, strict: bool = False
    ) -> list[Place]:
        """Post the card wherever the request's current stage goes and it is not yet (a later
        stage may go elsewhere); the places posted to now, the channel's first. A DM copy that
        fails for now is left to a ``refresh`` job, which calls this again ``strict``ly (the
        failure is raised, so the job backs off and tries again); one Slack refuses for good
        (a deactivated user, say) is logged and not tried again.

        One at a time for a request: a stage advance and a scheduled refresh spreading the same
        card at once both found it missing and both posted it (the second copy untracked, so
        never redrawn: pending with live buttons after the run was done)."""
        with self.db.key_lock(f"cards:{approval.id}"):
            return self._spread(approval, where, strict)

    def _spread(self, approval: Approval, where: Destination | None, strict: bool) -> list[Place]:
        stage = self.tally.stage_of(approval)[1]
        if where is None:
            run = self.store.get_run(approval.thread_id)
            where = destination(stage, run.approvals_channel if run else approval.channel)
        have = self.store.card_posts(approval.id)
        lines, edit = self.progress(approval)
        notes = self.notes(approval)
        posted: list[Place] = []
        if where.channel and not any(p.channel == where.channel for p in have):
            # A later round goes in the thread of the run's first card when that is here.
            in_thread = approval.thread_ts if where.channel == approval.channel else None
            channel, ts = self.slack.post_card(
                approval, notes, lines, edit, where.channel, in_thread
            )
            self._record(approval, channel, ts, None)
            posted.append((channel, ts))
        failure: Exception | None = None
        if where.dm:
            members = self.tally.directory.members(stage.approvers)
            if members is None and stage.approvers:
                failure = NoOneToAsk(f"request {approval.id}: its approvers' groups unresolved")
            sent = {p.person for p in have if p.person}
            for person in dm_people(stage, approval.requester, members):
                if person in sent:
                    continue
                try:
                    channel = self.slack.open_dm(person)
                    channel, ts = self.slack.post_card(approval, notes, lines, edit, channel)
                except Exception as exc:
                    logger.exception("request %s: no copy for %s", approval.id, person)
                    if _for_now(exc):
                        failure = failure or exc
                    continue
                self._record(approval, channel, ts, person)
                posted.append((channel, ts))
        if failure is not None and (strict or not (posted or have)):
            raise failure
        if failure is not None:  # the others have theirs: the missing ones come with a tick
            self.store.add_job(approval.id, PlannedJob("refresh", self.store.clock()))
        return posted

    def _record(self, approval: Approval, channel: str, ts: str, person: str | None) -> None:
        self.store.add_card_post(CardPost(approval.id, "card", channel, ts, person, approval.stage))

    def _tell_requester(self, run: Run, approval: Approval) -> None:
        """Once, in the channel /agent was typed in: where the card waits, with a link."""
        stage = self.tally.stage_of(approval)[1]
        where = destination(stage, run.approvals_channel)
        link = self.slack.permalink(where.channel, approval.ts or "") if where.channel else None
        who = who_may(stage, approval.requester)
        text = notices.waiting_where(approval, who, where.channel, where.dm, link)

        def tell() -> str:
            try:
                ts = self.slack.reply(run.channel, None, text)
            except Exception:  # the bot is not in that channel: the requester hears it alone
                logger.warning("request %s: told the requester in a DM instead", approval.id)
                return self.slack.dm(run.requester, text)
            self.store.add_card_post(CardPost(approval.id, "notice", run.channel, ts))
            return ts

        try:
            self.ledger.once(f"{approval.id}:where", tell)
        except Exception:
            logger.exception("could not tell the requester where request %s waits", approval.id)

    def places(self, approval: Approval, posts: Sequence[CardPost] | None = None) -> list[Place]:
        """Every card of the request: the one its thread hangs on, then its copies.
        ``posts``: the request's card posts, when the caller read them already."""
        main = [(approval.channel, approval.ts)] if approval.ts else []
        if posts is None:
            posts = self.store.card_posts(approval.id)
        copies = [(p.channel, p.ts) for p in posts if p.kind == "card"]
        return main + [c for c in copies if c not in main]

    def thread_of(
        self, run: Run, card: Approval | None = None
    ) -> tuple[str, str | None, Approval | None]:
        """Where the run's thread is: its card's, unless that card is someone's direct
        message (cards sent only to DMs), then the requester's notice, else their channel.
        ``card``: the run's latest card, when the caller has it at hand."""
        if card is None:
            card = self.store.latest_card(run.thread_id)
        if card is None or card.ts is None:
            return run.channel, None, None
        if not card.channel.startswith("D"):
            return card.channel, card.thread_ts or card.ts, card
        notice = [p for p in self.store.card_posts(card.id) if p.kind == "notice"]
        if notice:
            return notice[0].channel, notice[0].ts, card
        return run.channel, None, None

    def notes(self, approval: Approval) -> tuple[str, ...]:
        """Why the graph refused its last answer, deadline and escalation lines for a pending
        card, and its trace when traced."""
        notes = notices.card_notes(self.store.jobs_for(approval.id))
        return notices.refused_note(approval) + notes + self.trace_link(approval)

    def trace_link(self, approval: Approval) -> tuple[str, ...]:
        """The trace of the step that asked (LangSmith), when tracing is on."""
        if not self.links.enabled:
            return ()
        run = self.store.get_run(approval.thread_id)
        url = self.links.url(run.trace_id if run else None)
        return (trace_link(url),) if url else ()

    def draw(
        self,
        approval: Approval,
        spread: bool = False,
        posts: Sequence[CardPost] | None = None,
        locked: bool = False,
    ) -> None:
        """Redraw every card of the request (its copies too): pending with its deadlines and
        sign-off so far, or decided. Each copy is tried; the first failure is raised after.
        ``spread``: first post the copies a pending request still lacks (a scheduled refresh).

        A pending copy may be out of date by the time Slack has it: a vote (or an escalation)
        read the request before another vote moved it on or settled it, and that newer card
        went out first. So once a pending card is drawn, the request and its sign-off so far
        are read again, and drawn again if they changed meanwhile: every change is followed by
        such a look, so the last card to reach Slack shows the last state. A decided card gets
        the look too until its decision is applied: the graph may refuse the answer and the
        request be pending again (``Applier._refused``), its card drawn before this one reached
        Slack (a scheduled refresh that read the request before the reopening). Not when the
        caller read it under the run's lock and holds it still (``locked``: the decision being
        applied), as a reopening takes that lock, and draws its own card, after this one."""
        drawn = self._draw(approval, spread, posts)
        for _ in range(MAX_REDRAWS):
            if settled(approval) or (locked and not approval.pending):
                return
            latest = self.store.get_approval(approval.id)
            if latest is None:
                return
            shown = self.progress(latest)[0] if latest.pending else None
            if (latest.status, latest.stage, latest.version, shown) == drawn:
                return
            approval, drawn = latest, self._draw(latest, False, posts)

    def _draw(
        self, approval: Approval, spread: bool, posts: Sequence[CardPost] | None
    ) -> tuple[str, int, int, tuple[str, ...] | None]:
        """Draw every copy; what was drawn (status, stage, version, sign-off lines)."""
        if spread and approval.pending and approval.ts is not None:
            self.spread(approval, strict=True)
        lines, edit = self.progress(approval)
        notes = self.notes(approval) if approval.pending else ()  # a decided card has none
        failure: Exception | None = None
        for place in self.places(approval, posts):
            try:
                self.slack.refresh_card(approval, notes, lines, edit, at=place)
            except Exception as exc:
                logger.warning("request %s: copy %s not redrawn: %s", approval.id, place, exc)
                failure = failure or exc
        if failure is not None:
            raise failure
        return (
            approval.status,
            approval.stage,
            approval.version,
            lines if approval.pending else None,
        )

    def refresh(
        self, approval: Approval, posts: Sequence[CardPost] | None = None, locked: bool = False
    ) -> None:
        """:meth:`draw`; when Slack still fails after slack_sdk's own retries, leave a job so
        the scheduler keeps trying. ``posts``: as :meth:`places`; ``locked``: as :meth:`draw`."""
        try:
            self.draw(approval, posts=posts, locked=locked)
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
        text = escape(report)  # a model's last answer, say: all of it, in as many posts as it takes
        channel, thread, card = self.thread_of(run, card)
        if card is not None:
            return self.slack.reply_in_full(channel, thread, text)
        return self.slack.reply_in_full(channel, thread, f"<@{run.requester}> {text}")

    def say(self, run: Run, text: str, blocks: list[dict[str, Any]] | None = None) -> str:
        """Our own text (already safe) in the run's thread."""
        channel, thread, _ = self.thread_of(run)
        return self.slack.reply(channel, thread, text, blocks)
