"""The ``/agent`` subcommands that look after runs: ``pending``, ``status``, ``cancel`` and
``audit`` (and the Retry button). Each answers with the text to show the person who typed it,
about the runs :mod:`bot.core.access` lets that person see; any other run is "not found"."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.agents.traces import TraceLinks
from bot.core.access import Access
from bot.core.deciders import who_may
from bot.core.engine import Engine
from bot.core.models import Decision, Run
from bot.slack.blocks import runs
from bot.slack.blocks.outcomes import RUN_GONE, retry_sentence
from bot.slack.card_publisher import Cards
from bot.store.audit_log import Audit
from bot.store.db import LockBusy
from bot.store.repository import Store

_PREFIX = re.compile(r"[0-9a-f]{4,32}")
FINISHED = ("done", "failed", "cancelled", "stopped")

logger = logging.getLogger(__name__)


@dataclass
class Operations:
    store: Store
    engine: Engine
    audit: Audit
    access: Access
    cards: Cards
    links: TraceLinks

    def find(self, text: str, user: str) -> Run | str:
        """The run a person named by its id or the start of it, if they may see it; otherwise
        what to say. A run they may not see gets the answer a run that does not exist gets."""
        prefix = text.strip().strip("`").lower()
        if not prefix:
            return "Which run? Give its id, as I print it: for example `/agent status 1a2b3c4d`."
        if not _PREFIX.fullmatch(prefix):
            return f"`{prefix[:40]}` isn't a run id; run ids look like `1a2b3c4d`."
        found = self.access.find(prefix, user)
        if found.ambiguous:
            return f"More than one run starts with `{prefix}`; give more of its id."
        if found.run is None:
            return not_found(prefix)
        return found.run

    def pending(self, user: str) -> str:
        signing = self.engine.signing
        mine = [a for a in self.access.pending(user) if signing.refusal(a, user) is None]
        return runs.pending_text(mine, self.store.clock())

    def status(self, text: str, user: str) -> str:
        run = self.find(text, user)
        if isinstance(run, str):
            return run
        approvals = self.store.run_approvals(run.thread_id)
        waits_for = {
            a.id: who_may(self.engine.signing.stage_of(a)[1], a.requester)
            for a in approvals
            if a.pending
        }
        trace = self.links.url(run.trace_id)
        events = self.audit.for_run(run.thread_id)
        return runs.status_text(run, approvals, waits_for, events, trace)

    def audit_of(self, text: str, user: str) -> str:
        run = self.find(text, user)
        if isinstance(run, str):
            return run
        return runs.audit_text(run, self.audit.for_run(run.thread_id))

    def retry(self, thread_id: str, user: str) -> str:
        """Retry a failed run (its Retry button): for the people who may cancel it."""
        run = self.store.get_run(thread_id)
        if run is None or not self.access.may_manage(run, user):
            return GONE
        return retry_sentence(self.engine.retry(thread_id))

    def cancel(self, text: str, user: str) -> str:
        """Cancel a run: its pending requests are closed as cancelled (racing a decision, one
        of them wins) and the graph is never resumed, so nothing after the pause executes.

        Under the run's lock (nothing is published or resumed meanwhile), in one transaction
        with the claims (:meth:`bot.store.repository.Store.cancel_run`): either a decision was
        claimed
        first, and it is carried out and the cancel refused, or the run is cancelled first and
        no decision can be claimed after it. Never both."""
        run = self.find(text, user)
        if isinstance(run, str):
            return run
        if not self.access.may_manage(run, user):  # the same people today, asked apart on purpose
            return not_found(text.strip().strip("`").lower())
        short = f"`{run.thread_id[:8]}`"
        try:
            return self._cancel(run, user, short)
        except LockBusy:  # a step holds the run past the lock's wait: nothing changed
            return f"Run {short} is busy carrying out a step; nothing changed. Try again shortly."

    def _cancel(self, run: Run, user: str, short: str) -> str:
        with self.engine.db.key_lock(run.thread_id):
            latest = self.store.get_run(run.thread_id) or run
            if latest.status in FINISHED:
                return f"Run {short} is already {latest.status}; there is nothing to cancel."
            note = f"Cancelled by <@{user}>."
            claimed = self.store.cancel_run(run.thread_id, Decision("cancel", user), note)
            if claimed is None:  # a decision was claimed first: it is carried out, not undone
                return (
                    f"Too late: run {short} was just decided and is carrying it out. "
                    f"`/agent status {run.thread_id[:8]}`"
                )
            for approval in claimed:
                self.store.mark_applied(approval.id)  # there is nothing to resume
        try:  # a run under way elsewhere (a LangGraph Server) is stopped there too
            self.engine.runner.stop(run.graph, run.thread_id)
        except Exception:
            logger.warning("run %s: could not stop its work on the server", run.thread_id)
        for approval in claimed:
            self.store.cancel_jobs(approval.id)
            self.engine.journal.decided(approval)
            self.cards.refresh(approval)
        if not claimed:
            self.audit.record("cancelled", run.thread_id, user, via="slack")
        self.cards.say(run, f"Run {short} was cancelled by <@{user}>. Nothing more will run.")
        return f"Cancelled run {short}."


GONE = RUN_GONE


def not_found(prefix: str) -> str:
    return f"I can't find a run `{prefix}`."
