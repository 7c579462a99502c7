"""The ``jobs`` table's statements (:mod:`bot.store.jobs`): reminders, escalations and expiry,
claimed under a lease."""

INSERT_JOB = """
INSERT INTO jobs (id, approval_id, kind, level, round, detail, due_at, status)
VALUES (%(id)s, %(approval_id)s, %(kind)s, %(level)s, %(round)s, %(detail)s, %(due_at)s, 'pending')
"""
# Claimed jobs are leased, not finished: a worker that dies mid-job lets the lease run out and
# another tick picks the job up again. SKIP LOCKED keeps concurrent ticks off each other's rows.
# An expiry is due ACK_WINDOW after its deadline (``expire_by``: now less that window), once a
# click received before the deadline is certainly written (bot.store.db.base).
CLAIM_DUE_JOBS = """
UPDATE jobs SET locked_until = %(lease)s, attempts = attempts + 1
WHERE id IN (
    SELECT id FROM jobs
    WHERE status = 'pending' AND due_at <= %(now)s
      AND (kind <> 'expire' OR due_at <= %(expire_by)s)
      AND (locked_until IS NULL OR locked_until < %(now)s)
    ORDER BY due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
RETURNING *
"""
FINISH_JOB = """
UPDATE jobs SET status = %(status)s, done_at = %(now)s, locked_until = NULL
WHERE id = %(id)s AND status = 'pending'
"""
# A failed job is tried again once its lease runs out, set to the backoff: ``due_at`` stays, as
# an expiry's is its request's deadline (a click after it cannot win, however often the expiry
# has to be tried).
RETRY_JOB = """
UPDATE jobs SET locked_until = %(retry_at)s, last_error = %(error)s
WHERE id = %(id)s AND status = 'pending'
"""
CANCEL_JOBS = """
UPDATE jobs SET status = 'cancelled', done_at = %(now)s
WHERE approval_id = %(approval_id)s AND status = 'pending' AND kind <> 'refresh'
  AND id <> %(keep)s
"""
# The one-word summary inside a request's review (JSON), read without parsing the rest in Python.
REVIEW_SUMMARY = {
    "postgres": "CAST(a.review AS jsonb) ->> 'summary'",
    "sqlite": "json_extract(a.review, '$.summary')",
}
# A leased job about to run, leased again from now, but only while it is still this process's
# (the lease it was claimed with): a batch that outlasted its lease may have been claimed by
# another process meanwhile, which runs it instead.
RENEW_JOBS = """
UPDATE jobs SET locked_until = %(lease)s
WHERE id IN ({ids}) AND status = 'pending' AND locked_until = %(ours)s
RETURNING id
"""
FINISH_JOBS = """
UPDATE jobs SET status = %(status)s, done_at = %(now)s, locked_until = NULL
WHERE id IN ({ids}) AND status = 'pending'
"""
# FINISH_JOB and FINISH_JOBS with the audit events of what the jobs did (``events``: each
# ``[at, event, actor, detail, approval_id or "", thread_id]``), in one statement: written
# whether or not a job was still pending (what it sent is recorded, as CLOSE_APPLY's are).
_JOBS_AUDITED = """
INSERT INTO audit (at, thread_id, approval_id, event, actor, detail)
SELECT CAST(e ->> 0 AS DOUBLE PRECISION), e ->> 5, NULLIF(e ->> 4, ''), e ->> 1, e ->> 2, e ->> 3
FROM jsonb_array_elements(CAST(%(events)s AS jsonb)) AS e
"""
FINISH_JOB_AUDITED = f"WITH finished AS ({FINISH_JOB.strip()}){_JOBS_AUDITED}"
FINISH_JOBS_AUDITED = f"WITH finished AS ({FINISH_JOBS.strip()}){_JOBS_AUDITED}"
# Requests a reminder can be sent for now: pending, card posted, expiry not yet due (when it is,
# the expiry speaks instead).
REMINDABLE = """
SELECT a.id, a.thread_id, a.graph, a.request, a.requester, a.channel, a.ts, a.created_at,
       {summary} AS summary, a.signoff, a.stage, a.payload
FROM approvals a
WHERE a.id IN ({ids}) AND a.status = 'pending' AND a.ts IS NOT NULL
  AND NOT EXISTS (
    SELECT 1 FROM jobs j
    WHERE j.approval_id = a.id AND j.kind = 'expire' AND j.status = 'pending'
      AND j.due_at <= %(now)s)
"""
JOBS_FOR = "SELECT * FROM jobs WHERE approval_id = %(approval_id)s ORDER BY due_at"
OVERDUE_EXPIRY = """
SELECT * FROM jobs
WHERE approval_id = %(approval_id)s AND kind = 'expire' AND status = 'pending'
  AND due_at <= %(now)s
"""
