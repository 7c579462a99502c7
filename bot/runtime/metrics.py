"""Prometheus metrics, served at ``GET /metrics``: what waits, what was decided and how fast,
how quickly Slack is answered, what Slack refused, and how late the scheduler runs."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

CONTENT_TYPE = CONTENT_TYPE_LATEST
_DECISION_BUCKETS = (1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600, 86400, 3 * 86400)
_ACK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 3.0, 5.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._count_pending: Callable[[], int] | None = None
        self.pending = Gauge(
            "approval_requests_pending",
            "Approval requests waiting for a decision",
            registry=self.registry,
        )
        self.decisions = Counter(
            "approval_decisions_total",
            "Requests decided, by outcome",
            ["outcome"],
            registry=self.registry,
        )
        self.time_to_decision = Histogram(
            "approval_time_to_decision_seconds",
            "From a request's card to its decision",
            buckets=_DECISION_BUCKETS,
            registry=self.registry,
        )
        self.ack = Histogram(
            "slack_ack_seconds",
            "Time to answer a Slack request (the ack), by kind",
            ["kind"],
            buckets=_ACK_BUCKETS,
            registry=self.registry,
        )
        self.slack_errors = Counter(
            "slack_api_errors_total",
            "Slack Web API calls that failed, by method",
            ["method"],
            registry=self.registry,
        )
        self.card_retries = Counter(
            "approval_card_retries",
            "Card posts that failed for now and wait out a backoff before the next try",
            registry=self.registry,
        )
        self.cards_given_up = Counter(
            "approval_cards_given_up",
            "Cards Slack refused for good (the request closed as failed), by Slack's error",
            ["error"],
            registry=self.registry,
        )
        self.scheduler_lag = Gauge(
            "scheduler_lag_seconds",
            "How late the latest scheduler job ran after it fell due",
            registry=self.registry,
        )
        self.last_tick = Gauge(
            "scheduler_last_tick_timestamp_seconds",
            "When the scheduler last ticked (Unix time)",
            registry=self.registry,
        )

    def count_pending(self, count: Callable[[], int]) -> None:
        """Where the number of pending requests comes from: read by :meth:`refresh`, in the
        background, never by a scrape (anyone may scrape, as often as they like)."""
        self._count_pending = count
        self.pending.set(float("nan"))  # not read yet

    def refresh(self) -> None:
        """Read the gauges that live in the database (NaN when it does not answer: the scrape
        itself still succeeds)."""
        if self._count_pending is None:
            return
        try:
            self.pending.set(float(self._count_pending()))
        except Exception:
            self.pending.set(float("nan"))

    def decided(self, outcome: str, waited: float) -> None:
        self.decisions.labels(outcome=outcome).inc()
        self.time_to_decision.observe(max(0.0, waited))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
