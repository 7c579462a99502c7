"""Deciding a request (:mod:`bot.store.decisions`): the claim that makes a decision happen once,
votes, and a run's cancel."""

from bot.store.sql.attempts import _STARTED

# Cancelling: the run is marked first, in the transaction that closes its requests, so a
# claim that lands after it finds the run cancelled (see CLAIM).
CANCEL_RUN = """
UPDATE runs SET status = 'cancelled', result = %(result)s, updated_at = %(now)s
WHERE thread_id = %(thread_id)s AND status NOT IN ('done', 'failed', 'cancelled', 'stopped')
"""
# A decision claimed (not a cancel) and not yet carried out: a cancel racing it loses.
UNAPPLIED_OF_RUN = """
SELECT id FROM approvals
WHERE thread_id = %(thread_id)s AND status NOT IN ('pending', 'cancelled') AND applied_at IS NULL
"""

# The one conditional update that makes a decision happen once: only a pending row changes,
# and only the caller that changed it gets the row back.
# A run cancelled meanwhile takes no decision but its cancel. A click claimed ``alone`` (checked
# without the run's sign-off lock: no request of its run was signed by distinct people) loses
# to a distinct request recorded in its run meanwhile, which marked this row (``distinct_run``):
# it is checked again under that lock (bot.core.deciding.Decider.decide).
_CLAIM = """
UPDATE approvals
SET status = %(status)s, decided_by = %(by)s, decided_at = %(now)s, decision = %(decision)s{more}
WHERE id = %(id)s AND status = 'pending' AND (%(alone)s = 0 OR approvals.distinct_run = 0)
  AND (%(status)s = 'cancelled' OR NOT EXISTS (
      SELECT 1 FROM runs WHERE runs.thread_id = approvals.thread_id AND runs.status = 'cancelled'))
RETURNING *
"""
CLAIM = _CLAIM.format(more="")
# A claim made under the run's lock by the worker that goes on to apply it: its first attempt
# at applying is counted with it (the fencing token of attempts' BEGIN_APPLY).
CLAIM_COUNTED = _CLAIM.format(
    more=", apply_attempts = apply_attempts + 1, apply_fence = apply_fence + 1"
)

# Votes, for requests that take more than one click: each runs in one transaction that first
# locks the pending request's row (a no-op update: a row lock in Postgres, the write lock in
# SQLite), so votes on one request are counted one at a time, across processes.
LOCK_PENDING = """
UPDATE approvals SET stage = stage WHERE id = %(id)s AND status = 'pending' RETURNING *
"""
# A person votes once per stage; one whose approval an edit set aside may approve again.
CAST_VOTE = """
INSERT INTO votes (approval_id, stage, voter, vote, decision, void, cast_at, version)
VALUES (%(approval_id)s, %(stage)s, %(voter)s, %(vote)s, %(decision)s, 0, %(now)s, %(version)s)
ON CONFLICT (approval_id, stage, voter) DO UPDATE
SET vote = excluded.vote, decision = excluded.decision, void = 0, cast_at = excluded.cast_at,
    version = excluded.version
WHERE votes.void = 1
"""
# An edit is a new version of what is being signed: every other vote, of every stage, was
# for the old one and no longer counts; the request goes back to ``stage`` (its first).
VOID_OTHER_VOTES = """
UPDATE votes SET void = 1
WHERE approval_id = %(approval_id)s AND void = 0 AND NOT (stage = %(stage)s AND voter = %(voter)s)
"""
NEW_VERSION = """
UPDATE approvals SET version = version + 1, stage = 0 WHERE id = %(id)s AND status = 'pending'
"""
VOTES = "SELECT * FROM votes WHERE approval_id = %(approval_id)s ORDER BY cast_at, voter"
SET_STAGE = "UPDATE approvals SET stage = %(stage)s WHERE id = %(id)s AND status = 'pending'"

# The decision path, on a statement budget (see bot.store.sql).

# The claim (CLAIM) and, only when it won, what a decision closes: the request's reminders and
# expiry (but ``keep``, the job deciding it), its audit event (``events``: a JSON list of
# [at, event, actor, detail]) and the click it came from (``entry``; NULL: none).
_CLOSING = """
, jobs_closed AS (
    UPDATE jobs SET status = 'cancelled', done_at = %(now)s
    WHERE approval_id = %(id)s AND status = 'pending' AND kind <> 'refresh' AND id <> %(keep)s
      AND EXISTS (SELECT 1 FROM claimed)
), audited AS (
    INSERT INTO audit (at, thread_id, approval_id, event, actor, detail)
    SELECT CAST(e ->> 0 AS DOUBLE PRECISION), c.thread_id, c.id, e ->> 1, e ->> 2, e ->> 3
    FROM claimed c, jsonb_array_elements(CAST(%(events)s AS jsonb)) AS e
), click_closed AS (
    UPDATE inbox SET done_at = %(now)s, locked_until = NULL
    WHERE id = %(entry)s AND EXISTS (SELECT 1 FROM claimed)
)
"""
CLAIM_CLOSING = f"WITH claimed AS ({CLAIM.strip()}){_CLOSING}SELECT * FROM claimed"
# CLAIM_CLOSING and attempts' BEGIN_APPLY in one, under the run's lock (CLAIM_COUNTED): the
# request's claim, what it closes, and its first attempt at applying, with what that starts from.
CLAIM_BEGIN = f"WITH counted AS ({CLAIM_COUNTED.strip()}), claimed AS (SELECT * FROM counted)"
CLAIM_BEGIN += f"{_CLOSING}{_STARTED}"
