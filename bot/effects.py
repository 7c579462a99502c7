"""Side effects, keyed by an idempotency key stored beside the approvals.

Graph nodes re-run from their start when a run is resumed or recovered, so every side effect
(posting, mailing, calling a webhook) goes through :meth:`Ledger.once`:

- a key that finished returns its recorded result;
- a key that started but never finished (the process died mid-call) is not run again, because a
  duplicate email is worse than a visible "outcome unknown";
- a key whose effect *certainly* did not happen (Slack, the mail server or the webhook answered
  with an error, or refused the connection) raises :class:`EffectRetry`, so the step fails and
  the recovery sweep runs it again later; after ``MAX_ATTEMPTS`` the failure is reported instead.
"""

from __future__ import annotations

import http.client
import smtplib
import urllib.error
from collections.abc import Callable

from slack_sdk.errors import SlackApiError

from bot.db import Database
from bot.db import queries as q
from bot.store import Clock

UNKNOWN = "outcome unknown: the bot stopped while this action was running; not retried"
MAX_ATTEMPTS = 5


class EffectRetry(RuntimeError):
    """The effect certainly did not happen and will be tried again by the recovery sweep."""


def outcome_unknown(exc: BaseException) -> bool:
    """True when the request may have reached the other side before it failed (a timeout, a
    dropped connection): it may have happened, so it is never tried again."""
    if isinstance(exc, TimeoutError | ConnectionResetError | http.client.RemoteDisconnected):
        return True
    reason = getattr(exc, "reason", None)
    return isinstance(exc, urllib.error.URLError) and isinstance(reason, TimeoutError)


def certainly_failed(exc: BaseException) -> bool:
    """True when the other side answered "no" (or never let us in): nothing happened there."""
    if isinstance(exc, SlackApiError | urllib.error.HTTPError | ConnectionRefusedError):
        return True
    if isinstance(exc, smtplib.SMTPResponseException | smtplib.SMTPRecipientsRefused):
        return True
    if isinstance(exc, smtplib.SMTPConnectError):
        return True
    reason = getattr(exc, "reason", None)  # urllib.error.URLError wraps the socket error
    return isinstance(exc, urllib.error.URLError) and isinstance(reason, ConnectionRefusedError)


class Ledger:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self.closing = False

    def stop_new(self) -> None:
        """Shutting down: start no new effect (each is left for the next process, untouched)."""
        self.closing = True

    def once(self, key: str, effect: Callable[[], str]) -> str:
        if self.closing:
            raise EffectRetry("shutting down: left for the next start")
        attempt = self._begin(key)
        if isinstance(attempt, str):
            return attempt
        try:
            result = effect()
        except Exception as exc:
            failure = f"Failed: {exc}"
            if outcome_unknown(exc):
                failure = f"Outcome unknown ({exc}); not retried, so it happens at most once"
            elif certainly_failed(exc) and attempt < MAX_ATTEMPTS:
                self._finish(key, "retry", failure)
                raise EffectRetry(f"{failure} (attempt {attempt}; will retry)") from exc
            if attempt > 1:
                failure += f" (gave up after {attempt} attempts)"
            self._finish(key, "failed", failure)
            return failure
        self._finish(key, "done", result)
        return result

    def _begin(self, key: str) -> int | str:
        """The attempt number when the effect should run now, else the result to return."""
        if self.db.execute(q.BEGIN_EFFECT, {"key": key, "now": self.clock()}):
            return 1
        retried = self.db.fetch_one(q.RETRY_EFFECT, {"key": key, "now": self.clock()})
        if retried is not None:
            return int(retried["attempts"])
        row = self.db.fetch_one(q.GET_EFFECT, {"key": key})
        if row and row["status"] not in ("started", "retry"):
            return row["result"] or ""
        return UNKNOWN

    def _finish(self, key: str, status: str, result: str) -> None:
        self.db.execute(
            q.FINISH_EFFECT, {"key": key, "status": status, "result": result, "now": self.clock()}
        )
