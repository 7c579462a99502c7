"""Carrying a decision out (:mod:`bot.store.attempts`): the fenced bookkeeping of each attempt at
applying it, and the request reopened when the graph refuses its answer."""

MARK_APPLIED = """
UPDATE approvals SET applied_at = %(now)s WHERE id = %(id)s AND applied_at IS NULL
RETURNING thread_id
"""
# Fenced: only the latest attempt at applying may mark it applied. A process whose lock was
# lost mid-resume (its connection ended, another process took over) finds its token stale.
MARK_APPLIED_FENCED = """
UPDATE approvals SET applied_at = %(now)s
WHERE id = %(id)s AND applied_at IS NULL AND apply_fence = %(fence)s
RETURNING thread_id
"""
# Whether the attempt with this fencing token marked the decision applied (read back when the
# mark's answer was lost: its COMMIT may have gone through).
# The request's applied mark as committed. On PostgreSQL ``FOR SHARE`` by id alone: a commit
# still on its way (its answer lost, the transaction not yet ended) holds the row, and this
# waits for it to end, then reads what it left (a filter on the mark itself would be judged on
# the row as it was, and wait for nothing).
APPLIED_MARK = "SELECT applied_at, apply_fence FROM approvals WHERE id = %(id)s"
APPLIED_MARK_WAITING = APPLIED_MARK + " FOR SHARE"
# A run whose decision is applied is on the move until it is published again (waiting, done):
# if the process dies in between, the stale-run sweep finds it among the running ones. So is a
# run an earlier, failed attempt at the decision left "failed": the decision reached it now.
RUN_MOVES_ON = """
UPDATE runs SET status = 'running', updated_at = %(now)s
WHERE thread_id = %(thread_id)s AND status IN ('waiting', 'failed')
"""
UNAPPLIED_IN_RUN = """
SELECT * FROM approvals
WHERE thread_id = %(thread_id)s AND status <> 'pending' AND applied_at IS NULL
  AND apply_attempts < %(max_attempts)s
ORDER BY decided_at
"""
UNAPPLIED = """
SELECT * FROM approvals
WHERE status <> 'pending' AND applied_at IS NULL AND decided_at < %(before)s
  AND apply_attempts < %(max_attempts)s
ORDER BY decided_at LIMIT %(limit)s
"""
# Never a request whose card Slack refused ('failed'): it has no decision to apply.
REOPEN_APPLY = """
UPDATE approvals SET applied_at = NULL, apply_attempts = 0
WHERE id = %(id)s AND applied_at IS NOT NULL
  AND status NOT IN ('pending', 'cancelled', 'failed')
"""
# The graph refused the answer its latest attempt (``fence``) handed it, and still waits on the
# request's interrupt: the request is pending again, as a new version (a click from the card as
# it was is not counted), its sign-off from the start (the votes were for the refused answer),
# with the reminders and expiry its claim closed, and its run waiting. RESTORE_JOBS goes first,
# while the claim's time (its jobs' ``done_at``) is still on the row.
REOPEN_WHERE = """
WHERE id = %(id)s AND apply_fence = %(fence)s AND applied_at IS NULL
  AND status NOT IN ('pending', 'cancelled', 'failed')
"""
RESTORE_JOBS = f"""
UPDATE jobs SET status = 'pending', done_at = NULL, locked_until = NULL
WHERE approval_id = %(id)s AND status = 'cancelled'
  AND done_at = (SELECT decided_at FROM approvals {REOPEN_WHERE.strip()})
"""
REOPEN_REFUSED = f"""
UPDATE approvals
SET status = 'pending', decided_by = NULL, decided_at = NULL, decision = NULL,
    apply_attempts = 0, version = version + 1, stage = 0, refused = %(refused)s
{REOPEN_WHERE.strip()}
RETURNING *
"""
VOID_VOTES = "UPDATE votes SET void = 1 WHERE approval_id = %(id)s AND void = 0"
RUN_WAITS_AGAIN = """
UPDATE runs SET status = 'waiting', updated_at = %(now)s
WHERE thread_id = %(thread_id)s AND status IN ('running', 'failed')
"""
# ``apply_attempts`` counts against the limit (an attempt that never reached the agent is
# taken back); ``apply_fence`` only ever grows: each attempt's fencing token.
COUNT_APPLY = """
UPDATE approvals SET apply_attempts = apply_attempts + 1, apply_fence = apply_fence + 1
WHERE id = %(id)s
RETURNING apply_attempts, apply_fence
"""
UNCOUNT_APPLY = """
UPDATE approvals SET apply_attempts = apply_attempts - 1
WHERE id = %(id)s AND apply_attempts > 0
"""
# A decision whose attempt (``fence``, still the latest) failed in a way the same answer would
# fail again: no more attempts of the sweep's (a person's Retry resets them). No row: a later
# attempt took over.
GIVE_UP_APPLY = """
UPDATE approvals SET apply_attempts = %(max_attempts)s
WHERE id = %(id)s AND apply_fence = %(fence)s AND applied_at IS NULL
RETURNING thread_id
"""
RESET_APPLY = """
UPDATE approvals SET apply_attempts = 0
WHERE thread_id = %(thread_id)s AND status <> 'pending' AND applied_at IS NULL
RETURNING *
"""

# The decision path, on a statement budget (see bot.store.sql).

# Under the run's lock: one more attempt at applying a decision not yet applied (its fencing
# token), the request as it is now, its run, the id of the run's latest card and the request's
# card posts (its copies, redrawn with it).
_STARTED = """
SELECT to_jsonb(counted) AS approval, to_jsonb(r) AS run,
       (SELECT c.id FROM approvals c WHERE c.thread_id = counted.thread_id AND c.ts IS NOT NULL
        ORDER BY c.created_at DESC LIMIT 1) AS card_id,
       (SELECT COALESCE(jsonb_agg(to_jsonb(p) ORDER BY p.posted_at, p.channel), '[]')
        FROM card_posts p WHERE p.approval_id = counted.id) AS posts
FROM counted JOIN runs r ON r.thread_id = counted.thread_id
"""
BEGIN_APPLY = f"""
WITH counted AS (
    UPDATE approvals SET apply_attempts = apply_attempts + 1, apply_fence = apply_fence + 1
    WHERE id = %(id)s AND applied_at IS NULL AND status <> 'pending'
    RETURNING *
){_STARTED}"""
COUNT_APPLY_ROW = """
UPDATE approvals SET apply_attempts = apply_attempts + 1, apply_fence = apply_fence + 1
WHERE id = %(id)s AND applied_at IS NULL AND status <> 'pending'
RETURNING *
"""
LATEST_CARD_ID = """
SELECT id FROM approvals WHERE thread_id = %(thread_id)s AND ts IS NOT NULL
ORDER BY created_at DESC LIMIT 1
"""
# A decision whose run ended with it: the report's effect recorded done (``effect``; NULL:
# nothing to record) with its own audit events (``effect_events``: a success after retries),
# the decision marked applied (fenced: only the latest attempt), and, only then, the run's new
# status and the audit events (``events``, as in decisions' CLAIM_CLOSING).
CLOSE_APPLY = """
WITH effect AS (
    UPDATE effects SET status = 'done', result = %(effect_result)s, updated_at = %(now)s,
                       retry_at = NULL
    WHERE key = %(effect)s
    RETURNING key
), effect_audited AS (
    INSERT INTO audit (at, thread_id, approval_id, event, actor, detail)
    SELECT CAST(e ->> 0 AS DOUBLE PRECISION), e ->> 5, NULLIF(e ->> 4, ''), e ->> 1,
           e ->> 2, e ->> 3
    FROM effect, jsonb_array_elements(CAST(%(effect_events)s AS jsonb)) AS e
), applied AS (
    UPDATE approvals SET applied_at = %(now)s
    WHERE id = %(id)s AND applied_at IS NULL AND apply_fence = %(fence)s
    RETURNING thread_id
), moved AS (
    UPDATE runs SET status = %(status)s, result = COALESCE(%(result)s, result),
                    updated_at = %(now)s
    WHERE thread_id IN (SELECT thread_id FROM applied) AND status <> 'cancelled'
), audited AS (
    INSERT INTO audit (at, thread_id, approval_id, event, actor, detail)
    SELECT CAST(e ->> 0 AS DOUBLE PRECISION), a.thread_id, NULLIF(e ->> 4, ''), e ->> 1,
           e ->> 2, e ->> 3
    FROM applied a, jsonb_array_elements(CAST(%(events)s AS jsonb)) AS e
)
SELECT COUNT(*) AS applied FROM applied
"""
