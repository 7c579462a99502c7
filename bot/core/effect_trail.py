"""Where an effect's tries are written down: the audit trail and ``effect_tries_total``.

Only tries worth a look are told (see :class:`bot.core.ledger.EffectTry`): a retry and its wait, a
success after retries, an "outcome unknown", a refusal, giving up. A plain first-time success is
already the run's own ``done``. The ledger writes a try's ``effect`` row (:meth:`EffectTrail.entry`)
with its own row of the try, so a crash never leaves one without the other, and tells the trail
(its metrics) after.
"""

from __future__ import annotations

import uuid
from typing import Any

from prometheus_client import CollectorRegistry, Counter

from bot.core.ledger import EffectTry
from bot.store.audit_log import Entry


class EffectTrail:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        # Registered on /metrics' registry beside bot.runtime.metrics' own (that module is left
        # alone).
        self.tries = Counter(
            "effect_tries",
            "Side-effect tries that were retried or did not simply succeed, by outcome",
            ["outcome"],
            registry=registry,
        )

    def entry(self, tried: EffectTry) -> Entry:
        """The try's audit event, for the ledger to write with its own row of the try."""
        # A graph's effect keys start with its run's thread id ("<thread>:execute").
        owner = _run_id(tried.key.split(":", 1)[0])
        detail: dict[str, Any] = {"key": tried.key, "attempt": tried.attempt}
        detail["outcome"] = tried.outcome
        if tried.wait is not None:
            detail["wait"] = round(tried.wait, 1)
        if tried.detail:
            detail["detail"] = tried.detail[:1000]
        return Entry("effect", owner, "bot", None, detail)

    def __call__(self, tried: EffectTry) -> None:
        """The metrics of a try whose audit event was written with it."""
        self.tries.labels(outcome=tried.outcome).inc()


def _run_id(first: str) -> str:
    """The run an effect key's first part names, as the bot spells its ids: on a LangGraph
    Server a graph's thread id is its run's id as a UUID with dashes
    (bot.agents.langgraph_server.server_thread), the bot's own are bare hex."""
    if "-" not in first:
        return first
    try:
        return uuid.UUID(first).hex
    except ValueError:
        return first
