"""Ask people for what a run waits on: each new pause of the graph recorded as a request (its
sign-off, its review, its reminders and expiry), answered at once by a remembered approval that
covers it, or its card posted; the run then marked waiting, or its report posted once it ends."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

from bot.core.journal import Journal
from bot.core.ports import Agents, Publisher, RunState
from bot.core.routing import destination
from bot.core.rules import Rules
from bot.core.run_ends import RunEnds
from bot.core.tally import SignOffTally
from bot.domain.models import Approval, Run
from bot.domain.timeline import Policies, plan
from bot.runtime.worker import Worker
from bot.store.db.locks import LockBusy
from bot.store.repository import Store

logger = logging.getLogger(__name__)


@dataclass
class Asker:
    store: Store
    agents: Agents
    tally: SignOffTally
    policies: Policies
    publisher: Publisher
    journal: Journal
    worker: Worker
    ends: RunEnds
    apply: Callable[[Approval], object]  # a claimed decision carried out (bot.core.applying)
    # An applied decision its graph refused, asked again (bot.core.applying): the request now.
    ask_again: Callable[[Run, Approval, str], Approval | None]
    rules: Rules | None = None

    def publish(self, run: Run, state: RunState, known: Run | None = None) -> None:
        """Called with the thread locked: post cards for new interrupts, or the outcome.
        ``known``: the run as read under this same hold of the lock (nothing cancels it
        meanwhile: a cancel takes the lock), so it need not be read again."""
        latest = known or self.store.get_run(run.thread_id)
        if latest is not None and latest.status == "cancelled":
            return  # cancelled while this step ran: nothing more is asked or reported
        if state.finished:
            self.ends.finish(run, self.agents.report(run.graph, state))
            return
        asks = False  # does anything wait for a person (else the run is on the move)
        refused = False  # Slack refused a card for good: the run is closed as failed
        for pending in state.pending:
            approval = self.store.find_approval(run.thread_id, pending.id)
            if approval is None:
                governing = self.agents.governing(pending)
                sign_off, thread_ts = self.tally.plan(run, governing, pending.node)
                review = self.agents.describe(run.graph, pending).in_round(sign_off.round)
                if self.rules is not None:
                    offer = self.rules.offer(run, pending.value, sign_off, review)
                    review = replace(review, remember=offer) if offer else review
                jobs = plan(self.policies.for_request(run.graph, governing), self.store.clock())
                payload = self.agents.payload_of(pending)
                # A DM-only request has no channel: it is recorded with the run's until its
                # first copy is posted (bot.core.routing).
                channel = destination(sign_off.stages[0], run.approvals_channel).channel
                # Its "requested" row written with it: a crash never leaves one without the other.
                asked = [self.journal.requested_entry(run, review)]
                try:
                    approval = self.store.add_approval(
                        run, pending.id, payload, review, jobs, sign_off, thread_ts, channel, asked
                    )
                except Exception:
                    # Its answer lost (the connection dropped at its commit): read back.
                    # Committed, the request is asked as usual; the run did not fail.
                    approval = self.store.find_approval(run.thread_id, pending.id)
                    if approval is None:
                        raise
                    logger.warning("request %s: recorded, though the answer was lost", approval.id)
                if self.rules is not None and approval.pending:
                    approval = self._by_rule(self.rules, run, approval)
            if approval.pending and approval.ts is None:
                # Not posted for now: the recovery sweep tries again after a backoff.
                outcome = self.publisher.post(approval)
                refused = refused or outcome == "refused"
                asks = asks or outcome != "refused"
            elif approval.status == "failed":  # its card was refused before (a Retry)
                # The run fails again, after the Retry's row: its own row says so, with it.
                problem = run.result or "its approval card was refused"
                failed = self.journal.failed_entry(run, problem)
                self.store.end_run(run.thread_id, "failed", None, [failed])
                refused = True
            else:
                if approval.applied_at is not None and not state.running:
                    approval = self._handed_back(run, approval, state)
                asks = asks or approval.pending
        if refused:  # closed as failed with its request (bot.slack.card_posts), requester told
            return
        self.store.set_run_status(run.thread_id, "waiting" if asks else "running")

    def _by_rule(self, rules: Rules, run: Run, approval: Approval) -> Approval:
        """A new request a remembered approval covers is approved by it: no card, the decision
        the rule's (its maker's, ``via: rule``), one line in the run's thread. The rule's maker
        must still be someone who may decide the request; otherwise it is asked as usual."""
        rule = rules.matching(run, approval)
        if rule is None:
            return approval
        try:
            # Checked and claimed under the sign-off's lock, as a click is: a request of its
            # run signed by distinct people is not signed by the rule's maker meanwhile.
            with self.tally.guard(approval):
                if self.tally.refusal(approval, rule.created_by) is not None:
                    return approval
                made = rules.settle(approval, rule, partial(self.journal.closed, rule=rule))
        except LockBusy:  # a click held it past the wait: asked as usual
            return self.store.get_approval(approval.id) or approval
        except Exception:
            # Its answer lost (the connection dropped at its commit): read back. Committed,
            # it is carried out as usual; the run is not called failed.
            latest = self.store.get_approval(approval.id)
            won = latest.decision if latest is not None else None
            if latest is None or won is None or won.via != "rule" or won.rule != rule.id:
                raise
            logger.warning("request %s: approved by rule, though the answer was lost", latest.id)
            made = latest, rule
        if made is None:  # revoked or expired this very moment: asked as usual
            return self.store.get_approval(approval.id) or approval
        claimed, _ = made
        self.journal.counted(claimed)
        # In the pool, once this step gives the run's lock back; it says the line too.
        self.worker.submit(self.apply, claimed)
        return claimed

    def _handed_back(self, run: Run, approval: Approval, state: RunState) -> Approval:
        """The graph still waits on a decision marked applied. Its graph refused it (a runner
        elsewhere took the answer, and its run, once settled, says so): the request is asked
        again, as a refusal a resume raises is (``ask_again``). Else its resume never reached the
        graph (:meth:`_lost`). The request as it is now."""
        error = state.refused.get(approval.interrupt_id)
        if error is None:
            self._lost(approval)
            return approval
        return self.ask_again(run, approval, error) or approval

    def _lost(self, approval: Approval) -> None:
        """Its resume never reached the graph (a runner that lost it; the graph's own checkpoint
        is the proof), so it goes back to the decisions the recovery sweep applies. (One not
        yet applied is being applied already, and a run with nothing to ask anybody stays
        "running", which the stale-run sweep looks at.) A request whose card Slack refused has
        no decision: never lost."""
        if approval.status == "failed":
            return
        logger.warning("request %s: the graph never had its decision; applying it", approval.id)
        self.store.reopen_apply(approval.id)
