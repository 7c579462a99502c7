"""The ``/agent`` subcommands that look after runs: ``pending``, ``status``, ``cancel`` and
``audit``. Each answers with the text to show the person who typed it."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from bot.audit import Audit
from bot.blocks import runs
from bot.engine import Engine
from bot.models import Decision, Run
from bot.policy import who_may
from bot.store import Store

_PREFIX = re.compile(r"[0-9a-f]{4,32}")
FINISHED = ("done", "failed", "cancelled", "stopped")

logger = logging.getLogger(__name__)


@dataclass
class Operations:
    store: Store
    engine: Engine
    audit: Audit

    def find(self, text: str) -> Run | str:
        """The run a person named by its id or the start of it; otherwise what to say."""
        prefix = text.strip().strip("`").lower()
        if not prefix:
            return "Which run? Give its id, as I print it: for example `/agent status 1a2b3c4d`."
        if not _PREFIX.fullmatch(prefix):
            return f"`{prefix[:40]}` isn't a run id; run ids look like `1a2b3c4d`."
        found = self.store.runs_by_prefix(prefix)
        if not found:
            return f"I can't find a run `{prefix}`."
        if len(found) > 1:
            return f"More than one run starts with `{prefix}`; give more of its id."
        return found[0]

    def pending(self, user: str) -> str:
        signing = self.engine.signing
        mine = [a for a in self.store.pending(500) if signing.refusal(a, user) is None]
        return runs.pending_text(mine, self.store.clock())

    def status(self, text: str) -> str:
        run = self.find(text)
        if isinstance(run, str):
            return run
        approvals = self.store.run_approvals(run.thread_id)
        waits_for = {
            a.id: who_may(self.engine.signing.stage_of(a)[1], a.requester)
            for a in approvals
            if a.pending
        }
        return runs.status_text(run, approvals, waits_for, self.audit.for_run(run.thread_id))

    def audit_of(self, text: str) -> str:
        run = self.find(text)
        if isinstance(run, str):
            return run
        return runs.audit_text(run, self.audit.for_run(run.thread_id))

    def cancel(self, text: str, user: str) -> str:
        """Cancel a run: its pending requests are closed as cancelled (racing a decision, one
        of them wins) and the graph is never resumed, so nothing after the pause executes."""
        run = self.find(text)
        if isinstance(run, str):
            return run
        short = f"`{run.thread_id[:8]}`"
        if user != run.requester and not self.engine.signing.is_approver(user):
            return (
                f"Only <@{run.requester}>, who started run {short}, or an approver can cancel it."
            )
        if run.status in FINISHED:
            return f"Run {short} is already {run.status}; there is nothing to cancel."
        approvals = self.store.run_approvals(run.thread_id)
        if any(not a.pending and a.applied_at is None for a in approvals):
            return f"Too late: run {short} is carrying out a decision right now."
        pending = [a for a in approvals if a.pending]
        decision = Decision("cancel", user)
        claimed = [c for a in pending if (c := self.store.claim(a.id, decision)) is not None]
        if pending and not claimed:
            return f"Too late: run {short} was just decided. `/agent status {run.thread_id[:8]}`"
        self.store.set_run_status(run.thread_id, "cancelled", f"Cancelled by <@{user}>.")
        try:  # a run under way elsewhere (a LangGraph Server) is stopped there too
            self.engine.runner.stop(run.graph, run.thread_id)
        except Exception:
            logger.warning("run %s: could not stop its work on the server", run.thread_id)
        for approval in claimed:
            self.store.cancel_jobs(approval.id)
            self.store.mark_applied(approval.id)  # there is nothing to resume
            self.engine.journal.decided(approval)
            self.engine.cards.refresh(approval)
        if not claimed:
            self.audit.record("cancelled", run.thread_id, user)
        self.engine.cards.say(
            run, f"Run {short} was cancelled by <@{user}>. Nothing more will run."
        )
        return f"Cancelled run {short}."
