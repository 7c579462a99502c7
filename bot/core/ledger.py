"""Side effects, keyed by an idempotency key stored beside the approvals.

Graph nodes re-run from their start when a run is resumed or recovered, so every side effect
(posting, mailing, calling a webhook) goes through :meth:`Ledger.once`:

- a key that finished returns its recorded result;
- a key that started but never finished (the process died mid-call) is not run again, because a
  duplicate email is worse than a visible "outcome unknown";
- a key whose effect *certainly* did not happen (Slack answered with an error, the mail server
  answered "not now" (4xx) before accepting the message, the connection was refused, a webhook
  answered 408/425/429, or one declared idempotent answered 5xx: :mod:`graphs.outcomes`) raises
  :class:`EffectRetry`, so the step fails and the recovery sweep runs it again once its backoff
  (:mod:`bot.core.backoff`) has passed; after ``MAX_ATTEMPTS`` the failure is reported instead;
- a key whose call was sent and answered with an error by a target that cannot tell a repeat
  (a webhook's 5xx or 3xx) is "outcome unknown": reported once, never repeated;
- a definite refusal (any other 4xx; a mail server's 5xx before it took the message) is reported
  once, not retried: it would be refused again;
- an outbound call that found every slot taken (:mod:`bot.core.effect_slots`) was not sent: it is
  put back as it was, not counted as a try, and raises :class:`WaitsItsTurn` (a
  :class:`NotDue`), so its worker is free and the recovery sweep runs it again later.

Each try that is not a plain first-time success is written to the audit trail (``audited``: the
try number, the wait before the next one, the outcome) with the ledger's own row of it, in one
statement (PostgreSQL) or transaction (SQLite), and told to ``observe`` (``/metrics``) after.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from bot.core.backoff import BASE, backoff
from bot.core.effect_errors import certainly_failed, never, outcome_unknown, refused
from bot.domain.models import EffectDone
from bot.store.audit_log import Entry, write_audited
from bot.store.db.base import Database
from bot.store.rows import Clock
from bot.store.sql import effects as q
from graphs.outbound import NoSlot
from graphs.outcomes import OutcomeUnknown, effect

logger = logging.getLogger(__name__)

UNKNOWN = "outcome unknown: the bot stopped while this action was running; not retried"
MAX_ATTEMPTS = 5
# What an effect waits for before it starts, in this context (Ledger.after): a decision's card
# shows who decided before the effect of the decision lands.
_before: ContextVar[Callable[[], object] | None] = ContextVar("before_effects", default=None)


class EffectRetry(RuntimeError):
    """The effect certainly did not happen and will be tried again by the recovery sweep."""


class NotDue(EffectRetry):
    """Its backoff has not passed: nothing was tried this time (so it counts as no attempt)."""


class WaitsItsTurn(NotDue):
    """Every slot for outbound calls was taken: nothing was sent, nothing is counted."""


def retried(exc: BaseException) -> bool:
    """``exc`` (or what it wraps: a graph's step re-raises) is an effect that certainly did not
    happen, which the recovery sweep tries again."""
    return isinstance(exc, EffectRetry) or isinstance(exc.__cause__, EffectRetry)


def not_due(exc: BaseException) -> bool:
    """``exc`` (or what it wraps: a graph's step re-raises) is only a backoff being waited out."""
    return isinstance(exc, NotDue) or isinstance(exc.__cause__, NotDue)


@dataclass(frozen=True)
class EffectTry:
    """One try of an effect, for the audit trail and the metrics."""

    key: str
    attempt: int
    outcome: str  # done, retry, unknown, refused, failed, gave_up
    wait: float | None = None  # seconds until the next try (outcome "retry")
    detail: str = ""


def storable(text: str) -> str:
    """``text`` as any database keeps it: PostgreSQL's text takes no NUL character, so one
    (quoted from the other side of an effect, or in a step's error) is written as U+FFFD."""
    return text.replace("\x00", "\ufffd")


class Ledger:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        observe: Callable[[EffectTry], None] | None = None,
        rand: Callable[[], float] = random.random,
        base: float = BASE,
        retryable: Callable[[BaseException], bool] = never,
        unknown: Callable[[BaseException], bool] = never,
        audited: Callable[[EffectTry], Entry] | None = None,
    ) -> None:
        self.db = db
        self.clock = clock
        self.observe = observe
        # A try's audit event (bot.core.effect_trail), written with the try's end.
        self.audited = audited
        self.rand = rand  # the backoff's jitter (tests inject their own)
        # The first wait: the bot passes RETRY_AFTER, the sweep's own cadence, so the backoff
        # starts where the sweep would come back anyway and doubles from there.
        self.base = base
        # Errors of the edges' clients that mean the call certainly did nothing (Slack's
        # answers with ok: false, bot.slack.errors.not_done): retried after a backoff; and
        # those that mean it may have been carried out (Slack's internal_error on a post,
        # bot.slack.errors.uncertain): outcome unknown, never repeated.
        self.retryable = retryable
        self.unknown = unknown
        # Our own "started" marks that may have landed (their answer lost) and could not be
        # put back then (the server still away): key -> the mark's time, put back first
        # by this process's next try of the key (the effect was never sent).
        self._unsure: dict[str, float] = {}
        self.closing = False

    @contextmanager
    def after(self, wait: Callable[[], object]) -> Iterator[None]:
        """Within the block (and the graph steps it runs, in whatever thread: LangGraph copies
        the context into its workers), no effect starts before ``wait`` returned; work before
        the first effect (reading and writing checkpoints) goes on meanwhile."""
        token = _before.set(wait)
        try:
            yield
        finally:
            _before.reset(token)

    def stop_new(self) -> None:
        """Shutting down: start no new effect (each is left for the next process, untouched)."""
        self.closing = True

    def once(
        self,
        key: str,
        effect_fn: Callable[[], str],
        done: Callable[[EffectDone], None] | None = None,
    ) -> str:
        """Run ``effect_fn`` at most once under ``key``. ``done``: when it succeeds now, its
        "done" is handed to ``done`` to write (with what came of it, in one statement, and
        :meth:`entries` of it) instead of being written here; :meth:`told` of it after."""
        if self.closing:
            raise EffectRetry("shutting down: left for the next start")
        before = _before.get()
        if before is not None:  # before "started" is written: a crash here leaves no trace
            before()
        attempt = self._begin(key)
        if isinstance(attempt, str):
            return attempt
        try:
            with effect(key):  # its Idempotency-Key, the same on every try
                result = effect_fn()
        except NoSlot as exc:
            # Not sent: as if this try never began (the same attempt number comes next time).
            self.db.execute(q.UNBEGIN_EFFECT, {"key": key, "now": self.clock()})
            logger.info("effect %s waits its turn: %s", key, exc)
            raise WaitsItsTurn(str(exc)) from exc
        except Exception as exc:
            said = storable(str(exc))  # it may quote the other side (a mail server's refusal)
            failure, outcome = f"Failed: {said}", "failed"
            if isinstance(exc, OutcomeUnknown):
                failure, outcome = said, "unknown"
            elif outcome_unknown(exc) or self.unknown(exc):
                failure = f"Outcome unknown ({said}); not retried, so it happens at most once"
                outcome = "unknown"
            elif refused(exc):
                outcome = "refused"
            elif certainly_failed(exc, self.retryable) and attempt < MAX_ATTEMPTS:
                wait = backoff(attempt, self.rand, self.base)
                tried = EffectTry(key, attempt, "retry", wait, said)
                self._finish(key, "retry", failure, self.clock() + wait, tried)
                self._tell(tried)
                raise EffectRetry(
                    f"{failure} (attempt {attempt}; will retry in {wait:.0f} s or later)"
                ) from exc
            elif certainly_failed(exc, self.retryable):
                outcome = "gave_up"
            if attempt > 1 and outcome in ("unknown", "refused"):
                failure += f" (on attempt {attempt})"  # nothing was given up: it ended there
            elif attempt > 1:
                failure += f" (gave up after {attempt} attempts)"
            tried = EffectTry(key, attempt, outcome, None, failure)
            self._finish(key, "failed", failure, None, tried)
            self._tell(tried)
            return failure
        # What the action returned, as it is kept (a graph's own may return None, or quote
        # the other side: a NUL character too), and returned now as at every later call of
        # the key: a node run again gets what it got the first time.
        kept = storable(result) if isinstance(result, str) else result
        if done is not None:
            done(EffectDone(key, kept, attempt))  # its caller writes it, and tells
            return kept
        after_retries = EffectTry(key, attempt, "done") if attempt > 1 else None
        self._finish(key, "done", kept, None, after_retries)
        if after_retries is not None:
            self._tell(after_retries)
        return kept

    def entries(self, finished: EffectDone) -> list[Entry]:
        """The audit events of a success handed to its caller to write (``once``'s ``done``):
        one when it came after retries."""
        return self._entries(self._done_try(finished))

    def told(self, finished: EffectDone) -> None:
        """The metrics of a success its caller wrote (with :meth:`entries` of it)."""
        tried = self._done_try(finished)
        if tried is not None:
            self._tell(tried)

    def _entries(self, tried: EffectTry | None) -> list[Entry]:
        return [self.audited(tried)] if tried is not None and self.audited is not None else []

    @staticmethod
    def _done_try(finished: EffectDone) -> EffectTry | None:
        return EffectTry(finished.key, finished.attempt, "done") if finished.attempt > 1 else None

    def _begin(self, key: str) -> int | str:
        """The attempt number when the effect should run now, else the result to return."""
        mark = self._unsure.pop(key, None)
        if mark is not None:
            self._undo_begin(key, mark)
        now = self.clock()
        try:
            if self.db.execute(q.BEGIN_EFFECT, {"key": key, "now": now}):
                return 1
            retried = self.db.fetch_one(q.RETRY_EFFECT, {"key": key, "now": now})
        except Exception as exc:
            # The mark may have landed, its answer lost: the effect was never sent, so it is
            # certainly not done (never "outcome unknown" later) once the mark is put back.
            if self._undo_begin(key, now):
                raise EffectRetry(f"not started ({exc}); will retry") from exc
            raise
        if retried is not None:
            return int(retried["attempts"])
        row = self.db.fetch_one(q.GET_EFFECT, {"key": key})
        if row and row["status"] == "retry":  # its backoff has not passed yet
            wait = max(0.0, float(row["retry_at"] or now) - now)
            raise NotDue(f"{row['result']} (next try in {wait:.0f} s)")
        if row and row["status"] != "started":
            return row["result"] or ""
        return UNKNOWN

    def _undo_begin(self, key: str, mark: float) -> bool:
        """Put back our own "started" mark stamped ``mark``, if it is there (True). When the
        database cannot be reached to do so, it is remembered, and put back before this
        process's next try of ``key``."""
        try:
            return bool(self.db.execute(q.UNDO_BEGIN_EFFECT, {"key": key, "now": mark}))
        except Exception:
            self._unsure[key] = mark
            raise

    def _finish(
        self,
        key: str,
        status: str,
        result: str,
        retry_at: float | None = None,
        tried: EffectTry | None = None,
    ) -> None:
        """The try's end, and the audit event of ``tried`` (a try worth a look) with it: in
        one statement (PostgreSQL) or transaction (SQLite); raises when it was not written,
        the end with it."""
        now = self.clock()
        params = {"key": key, "status": status, "result": result, "now": now, "retry_at": retry_at}
        events = self._entries(tried)
        if not events:
            self.db.execute(q.FINISH_EFFECT, params)
            return
        owner = {"thread_id": events[0].thread_id}
        audited, plain = q.FINISH_EFFECT_AUDITED, q.FINISH_EFFECT_RETURNING
        write_audited(self.db, audited, plain, {**params, **owner}, events, now)

    def _tell(self, tried: EffectTry) -> None:
        if self.observe is None:
            return
        try:
            self.observe(tried)
        except Exception:  # the effect's outcome stands whatever the metrics say
            logger.exception("could not record try %d of effect %s", tried.attempt, tried.key)
