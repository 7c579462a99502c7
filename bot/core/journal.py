"""What happened, written down twice: in the audit trail (who, what, when) and in the metrics
(how many, how fast). The engine and the scheduler tell it; it never raises."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from bot.domain.models import Approval, Decision, Run, Waiting, status_for
from bot.domain.review import Review
from bot.runtime.metrics import Metrics
from bot.store.audit_log import Audit, Entry
from bot.store.decisions import Closing
from bot.store.rules import Rule


@dataclass
class Journal:
    audit: Audit
    metrics: Metrics

    def cancelled_entry(self, run: Run, by: str, via: str) -> Entry:
        """A run cancelled while it waited on no request (a request's cancel is decided)."""
        return Entry("cancelled", run.thread_id, by, None, {"via": via})

    def retried_entry(self, run: Run, decision: Decision) -> Entry:
        """A person's Retry of the failed ``run`` (``decision``: who pressed it, and through
        which door), for the store to write with the retry (``RunRows.retry_run``)."""
        return Entry("retried", run.thread_id, decision.by, None, came_through(decision))

    def ticked(self, at: float) -> None:
        """The scheduler ticked (``/healthz`` and ``/metrics`` show when it last did)."""
        self.metrics.last_tick.set(at)

    def lagging(self, seconds: float) -> None:
        """How late the scheduler ran the job it just took."""
        self.metrics.scheduler_lag.set(max(0.0, seconds))

    def started(self, run: Run) -> None:
        door = {"via": "api", "on_behalf_of": run.on_behalf_of} if run.on_behalf_of else {}
        self.audit.record("started", run.thread_id, run.requester, graph=run.graph, **door)

    def requested_entry(self, run: Run, review: Review) -> Entry:
        """A new request of ``run``, for the store to write with it (its id is the request's,
        made as it is recorded: :meth:`~bot.store.repository.Store.add_approval`)."""
        return Entry("requested", run.thread_id, "bot", None, {"kind": review.summary})

    def voted_entry(self, approval: Approval, decision: Decision, kind: str) -> Entry:
        """One vote of several on ``approval``, for the store to write with the vote when it
        counts and does not settle the request (:meth:`~bot.store.repository.Store.vote`)."""
        detail = {"vote": kind, "version": decision.version or 1, **came_through(decision)}
        if decision.items:
            detail["calls"] = _calls(approval, decision)
        return Entry("voted", approval.thread_id, decision.by, approval.id, detail)

    def counted(self, approval: Approval) -> None:
        """The metrics of a decision whose audit event the store wrote with its claim."""
        waited = (approval.decided_at or approval.created_at) - approval.created_at
        self.metrics.decided(approval.status, waited)

    def decided_entry(self, approval: Approval, rule: Rule | None = None) -> Entry:
        """The audit event of a decision: a request closed, approved, edited, rejected,
        expired, cancelled... (``approval`` as it is once claimed; ``rule``: the remembered
        approval that answered it, ``via: rule``), for the store to write in the claim's own
        transaction."""
        decision = approval.decision
        detail: dict[str, Any] = {}
        if decision is not None:
            detail.update(came_through(decision))
            if decision.rule is not None:
                detail["rule"] = decision.rule
            if rule is not None and decision.via == "rule":
                detail["rule_by"], detail["rule_at"] = rule.created_by, rule.created_at
            if decision.reason:
                detail["reason"] = decision.reason
            if decision.approvers:
                detail["approvers"] = list(decision.approvers)
            if decision.message:
                detail["note"] = decision.message
            if approval.status == "edited":
                detail["before"], detail["after"] = _before(approval), _after(decision)
            if decision.items:
                detail["calls"] = _calls(approval, decision)
        detail["version"] = approval.version
        actor = approval.decided_by or "scheduler"
        return Entry(approval.status, approval.thread_id, actor, approval.id, detail)

    def closing(
        self, approval: Approval, decision: Decision, keep: str = "", entry: str | None = None
    ) -> Closing:
        """What a claim of ``approval`` by ``decision`` closes if it wins: its audit event
        (written from the request as the claim leaves it), its jobs but ``keep``, its click."""
        claimed = replace(
            approval, status=status_for(decision), decided_by=decision.by, decision=decision
        )
        return self.closed(claimed, keep=keep, entry=entry)

    def closed(
        self,
        claimed: Approval,
        rule: Rule | None = None,
        keep: str = "",
        entry: str | None = None,
        made: Rule | None = None,
    ) -> Closing:
        """What the claim that left the request ``claimed`` closes, in its own transaction:
        its audit event (``rule``: the remembered approval that answered it; ``made``: the one
        it made, audited first), its jobs but ``keep``, its click ``entry``."""
        events = [self.remembered_entry(claimed, made)] if made is not None else []
        events.append(self.decided_entry(claimed, rule))
        return Closing(events, keep, entry)

    def remembered_entry(self, approval: Approval, rule: Rule) -> Entry:
        """A person approved a request and asked not to be asked again: the rule they made
        (written in the claim's own transaction, as :meth:`decided_entry`)."""
        detail = {
            "rule": rule.id,
            "expires_at": rule.expires_at,
            "graph": rule.graph,
            "action": rule.action,
            "requester": rule.requester,
            "channel": rule.channel,
            "match": rule.arguments,
        }
        return Entry("rule_created", rule.thread_id, rule.created_by, approval.id, detail)

    def revoked_entry(self, rule: Rule, by: str) -> Entry:
        """``by`` revoked a rule, for the store to write with the revocation."""
        return Entry("rule_revoked", rule.thread_id, by, rule.approval_id, {"rule": rule.id})

    def refused_entry(self, approval: Approval, error: str) -> Entry:
        """The graph refused the decision it was handed (``approval`` as claimed): by the agent,
        with its error and the decision it refused; the request is asked again."""
        decision = approval.decision
        detail: dict[str, Any] = {"error": error, "refused": approval.status}
        if decision is not None:
            detail["decided_by"] = decision.by
            detail.update(came_through(decision))
        detail["version"] = approval.version
        return Entry("refused_by_agent", approval.thread_id, "agent", approval.id, detail)

    def executed_entry(self, approval: Approval) -> Entry:
        return Entry("executed", approval.thread_id, "bot", approval.id)

    def sent_entry(self, approval: Approval) -> Entry:
        """The decision handed to the agent server, which runs the graph with it in its own
        time (its graph may yet refuse it: ``refused_by_agent``)."""
        return Entry("sent", approval.thread_id, "bot", approval.id)

    def done_entry(self, run: Run) -> Entry:
        return Entry("done", run.thread_id, "bot")

    def reminded_entries(self, *approvals: Approval | Waiting) -> list[Entry]:
        """The requests were reminded of, for the store to write with their jobs' ends."""
        return [Entry("reminded", a.thread_id, "scheduler", a.id) for a in approvals]

    def escalated_entry(self, approval: Approval, level: int) -> Entry:
        """The request was escalated, for the store to write with its job's end."""
        return Entry("escalated", approval.thread_id, "scheduler", approval.id, {"level": level})

    def card_retry_entry(self, approval: Approval, attempt: int, wait: float, error: str) -> Entry:
        """A card post failed for now; the next try waits ``wait`` seconds at least (for the
        store to write with the try's count: :meth:`card_retried` after)."""
        detail = {"attempt": attempt, "wait": round(wait, 1), "error": error[:500]}
        return Entry("card_retry", approval.thread_id, "bot", approval.id, detail)

    def card_retried(self) -> None:
        """The metrics of a failed try whose audit event the store wrote with its count."""
        self.metrics.card_retries.inc()

    def card_refused_entries(self, approval: Approval, error: str, reason: str) -> list[Entry]:
        """Slack refused a card for good (``approval`` as it was before): its request is closed
        as failed, never tried again (``card_refused``), and its run fails with ``reason``
        (``failed``), for the store to write with the close (:meth:`card_given_up` after)."""
        detail = {"error": error, "attempt": approval.card_attempts + 1}
        refused = Entry("card_refused", approval.thread_id, "bot", approval.id, detail)
        return [refused, _failed(approval.thread_id, reason)]

    def card_given_up(self, error: str) -> None:
        """The metrics of a card refusal whose audit events the store wrote with its close."""
        self.metrics.cards_given_up.labels(error=error).inc()

    def failed_entry(self, run: Run, error: str) -> Entry:
        """The run failed with ``error``, for the store to write with the run's end."""
        return _failed(run.thread_id, error)


def _failed(thread_id: str, error: str) -> Entry:
    return Entry("failed", thread_id, "bot", None, {"error": error[:1000]})


def via(decision: Decision) -> str:
    """The door a decision came through: ``slack``, ``api`` or ``scheduler``."""
    return decision.via or ("scheduler" if decision.by == "scheduler" else "slack")


def came_through(decision: Decision) -> dict[str, str]:
    """What an audit row records of the door: ``via``, and the API principal that acted on
    behalf of the person named (``on_behalf_of``), when one did."""
    door = {"via": via(decision)}
    if decision.on_behalf_of:
        door["on_behalf_of"] = decision.on_behalf_of
    return door


def _calls(approval: Approval, decision: Decision) -> list[dict[str, Any]]:
    """A batch decided call by call: each call's name and what was decided for it."""
    proposals = approval.review.proposals if approval.review else ()
    calls = []
    for index, item in enumerate(decision.items or []):
        call: dict[str, Any] = {"decision": str(item.get("type"))}
        if index < len(proposals):
            call["call"] = proposals[index].title
        if item.get("values") is not None:
            call["values"] = item["values"]
        if item.get("message"):
            call["message"] = item["message"]
        calls.append(call)
    return calls


def _before(approval: Approval) -> Any:
    review = approval.review
    if review is None or not review.proposals:
        return approval.payload.get("value")
    if review.shape == "draft":
        return {"text": review.proposals[0].description}
    # The same keys as the "after" (the edit form's inputs), so the two compare key by key.
    before = [p.initial_values() for p in review.proposals]
    return before[0] if len(before) == 1 else before


def _after(decision: Decision) -> Any:
    if decision.items:
        return [item.get("values") for item in decision.items]
    after: dict[str, Any] = dict(decision.parameters or {})
    if decision.text is not None:
        after["text"] = decision.text
    return after
