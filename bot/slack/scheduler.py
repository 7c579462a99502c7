"""Reminders, escalations and expiry, driven by a periodic tick in every bot process.

APScheduler 3 must never share a job store between processes, so it keeps none
(``bot.runtime.ticking``): it only calls :meth:`Scheduler.tick` every ``SCHEDULER_TICK``
seconds. What is due lives in the ``jobs``
table and is claimed there (``FOR UPDATE SKIP LOCKED`` on Postgres; SQLite's single writer does
the same), so N processes ticking at once still do each job once, and a process that starts
after an outage catches up on everything that fell due meanwhile.

A job whose Slack call fails (after slack_sdk's own retries of 429 and 5xx) is put back with a
growing delay; it is never dropped. A job that finished is never run again; the only repeat
possible is a process dying between Slack's answer and the job's ``done`` mark, which is written
with the job's audit row (``reminded``, ``escalated``) or not at all.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from bot.core.backoff import backoff
from bot.core.engine import Engine
from bot.core.journal import Journal
from bot.domain.models import Approval, Job, Waiting
from bot.slack.blocks import notices
from bot.slack.card_publisher import Cards
from bot.slack.client import Slack
from bot.store.audit_log import Entry
from bot.store.db.base import ACK_WINDOW
from bot.store.repository import Store

logger = logging.getLogger(__name__)


class NotReady(RuntimeError):
    """The job cannot run yet (its card is not posted); try again later."""


@dataclass
class Scheduler:
    store: Store
    engine: Engine
    slack: Slack
    ticked: Callable[[], None]  # the health check's clock: the scheduler is alive
    cards: Cards
    journal: Journal
    lease: float = 120.0
    batch: int = 500
    per_tick: int = 2000
    fanout: int = 4  # channels posted to at once

    def tick(self) -> int:
        """Recover half-done work, then run every job that is due; returns the jobs run."""
        self.ticked()
        self.journal.ticked(self.store.clock())
        try:
            self.engine.recover()
        except Exception:  # the database may be away: the jobs get their own chance
            logger.exception("recovery sweep failed")
        count = 0
        # A long backlog drains over several ticks: each does at most ``per_tick`` jobs.
        while count < self.per_tick and (jobs := self.store.claim_due_jobs(self.lease, self.batch)):
            self.run_batch(jobs)
            count += len(jobs)
            if len(jobs) < self.batch:
                break
        return count

    def run_batch(self, jobs: list[Job]) -> None:
        """Reminders falling due together for one channel become one digest message (Slack
        takes about one message a second per channel); channels are served concurrently."""
        digests: dict[str, list[tuple[Job, Waiting]]] = defaultdict(list)
        alone: list[Job] = []
        reminders = [job for job in jobs if job.kind == "remind"]
        remindable = self.store.remindable(job.approval_id for job in reminders)
        # A request with cards in several places is reminded at each (``run``), not digested.
        spread = self.store.spread(remindable) if remindable else set()
        for job in jobs:
            approval = remindable.get(job.approval_id) if job.kind == "remind" else None
            if approval is None or approval.id in spread:  # or one ``run`` cancels or puts off
                alone.append(job)
            else:
                digests[approval.channel].append((job, approval))
        for channel, items in list(digests.items()):
            if len(items) == 1:  # one reminder: in the card's thread, as always
                alone.append(items[0][0])
                del digests[channel]
        # Each request's own jobs one after another (a reminder sees the expiry before it),
        # requests and digests ``fanout`` at a time: a Slack that does not answer holds the
        # tick for a few of its timeouts, not one per request.
        by_request: dict[str, list[Job]] = defaultdict(list)
        for job in alone:
            by_request[job.approval_id].append(job)
        tasks: list[Callable[[], None]] = [partial(self._run_all, j) for j in by_request.values()]
        tasks += [partial(self._digest, entry) for entry in digests.items()]
        if len(tasks) == 1:
            tasks[0]()
        elif tasks:
            with ThreadPoolExecutor(min(self.fanout, len(tasks))) as pool:
                list(pool.map(lambda task: task(), tasks))

    def _run_all(self, jobs: list[Job]) -> None:
        for job in jobs:
            self.run(job)

    def _digest(self, entry: tuple[str, list[tuple[Job, Waiting]]]) -> None:
        channel, items = entry
        held = self.store.renew_jobs((job for job, _ in items), self.lease)
        items = [(job, approval) for job, approval in items if job.id in held]
        if not items:  # another process took them when this batch outlasted its lease
            return
        now = self.store.clock()
        who: list[str] = []
        for _, approval in items:
            who += [a for a in self.engine.tally.stage_of(approval)[1].approvers if a not in who]
        waiting = [(approval, now - approval.created_at) for _, approval in items]
        try:
            self.slack.reply(channel, None, notices.digest(waiting, notices.mentions(who)))
        except Exception as exc:
            logger.warning("reminder digest for %s failed (%s); retrying", channel, exc)
            for job, _ in items:
                self.store.retry_job(job.id, _retry_in(job), f"{type(exc).__name__}: {exc}")
            return
        # The jobs' ends and their audit rows in one round trip: never one without the other.
        reminded = self.journal.reminded_entries(*(approval for _, approval in items))
        self.store.finish_jobs((job.id for job, _ in items), events=reminded)

    def run(self, job: Job) -> None:
        if job.locked_until is not None and not self.store.renew_jobs([job], self.lease):
            # Its batch outlasted its lease, and another process claimed it meanwhile.
            logger.info("%s job %s was taken by another process", job.kind, job.id)
            return
        if job.attempts == 1:  # a retry runs after its backoff, not late
            held = ACK_WINDOW if job.kind == "expire" else 0.0  # claimed no earlier (jobs.py)
            self.journal.lagging(self.store.clock() - job.due_at - held)
        approval = self.store.get_approval(job.approval_id)
        stale = (
            job.kind in ("remind", "escalate")
            and approval is not None
            and (self.store.overdue_expiry(approval.id) is not None)
        )
        if approval is None or stale or (not approval.pending and job.kind != "refresh"):
            # Decided, or catching up after an outage past the deadline: the expiry speaks.
            self.store.finish_job(job.id, "cancelled")
            return
        try:
            done = self._do(job, approval)
        except Exception as exc:
            delay = _retry_in(job)
            logger.warning("%s job %s failed (%s); retrying in %.0fs", job.kind, job.id, exc, delay)
            self.store.retry_job(job.id, delay, f"{type(exc).__name__}: {exc}")
            return
        self.store.finish_job(job.id, events=done)  # with its audit rows, in one round trip

    def _do(self, job: Job, approval: Approval) -> list[Entry]:
        """Run the job; the audit rows of what it did, to be written with its end."""
        waited = self.store.clock() - approval.created_at
        if job.kind == "expire":
            self.engine.expire(approval, job)
        elif job.kind == "refresh":
            self.cards.draw(approval, spread=True)  # raises when Slack fails: retried
        elif approval.ts is None:
            raise NotReady("the card has not been posted yet")
        elif job.kind == "remind":
            _, stage = self.engine.tally.stage_of(approval)
            text = notices.reminder(approval, waited, notices.mentions(stage.approvers))
            # The reminder follows the card: in the thread of each of its copies (a DM, too).
            for channel, ts in self.cards.places(approval):
                thread = approval.thread_ts if channel == approval.channel else None
                self.slack.reply(channel, thread or ts, text)
            return self.journal.reminded_entries(approval)
        elif job.kind == "escalate":
            permalink = self.slack.permalink(approval.channel, approval.ts)
            channel = job.detail.get("channel") or self._escalation_channel(approval)
            text = notices.escalation(approval, job, waited, permalink)
            self.slack.reply(channel, None, text)
            # Done before the card update (never escalate twice), with its audit row.
            self.store.finish_job(
                job.id, events=[self.journal.escalated_entry(approval, job.level)]
            )
            self.cards.refresh(approval)  # "Escalated to ..."; retried as its own job
        else:
            logger.error("unknown job kind %r", job.kind)
        return []

    def _escalation_channel(self, approval: Approval) -> str:
        """The card's channel; for cards sent only to DMs, the channel the run was asked in."""
        if not approval.channel.startswith("D"):
            return approval.channel
        run = self.store.get_run(approval.thread_id)
        return run.channel if run else approval.channel


def _retry_in(job: Job) -> float:
    """Seconds before a failed job runs again: 5, 10, 20 … up to 5 minutes (bot.core.backoff's
    curve, without its jitter: the delays are as they were)."""
    return backoff(job.attempts + 1, rand=lambda: 1.0, base=5.0, cap=300.0)
