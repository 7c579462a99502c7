"""The ``approvals`` and ``card_posts`` tables' statements for requests and their cards
(:mod:`bot.store.requests`): recording a request, reading it, posting its card (and the
posts that fail), what waits."""

from bot.store.sql.audit_log import WRITTEN_AUDITED

INSERT_APPROVAL = """
INSERT INTO approvals (id, thread_id, interrupt_id, graph, request, requester, payload, review,
                       signoff, thread_ts, channel, status, created_at, distinct_run)
VALUES (%(id)s, %(thread_id)s, %(interrupt_id)s, %(graph)s, %(request)s, %(requester)s,
        %(payload)s, %(review)s, %(signoff)s, %(thread_ts)s, %(channel)s, 'pending', %(now)s,
        CASE WHEN %(distinct)s = 1 OR EXISTS (
            SELECT 1 FROM approvals o
            WHERE o.thread_id = %(thread_id)s AND o.distinct_run = 1) THEN 1 ELSE 0 END)
ON CONFLICT (thread_id, interrupt_id) DO NOTHING
"""
# A request signed by distinct people marks every request of its run (``distinct_run``: each
# is then checked against it under the run's sign-off lock; see decisions' _CLAIM).
MARK_DISTINCT_RUN = """
UPDATE approvals SET distinct_run = 1 WHERE thread_id = %(thread_id)s AND distinct_run = 0
"""
GET_APPROVAL = "SELECT * FROM approvals WHERE id = %(id)s"
# Before a form opens: the request, and when its deadline passed (``overdue_at``) if it has and
# the expiry is still to run: what would be submitted in the form is late (jobs' OVERDUE_EXPIRY).
APPROVAL_FOR_FORM = """
SELECT a.*, (
    SELECT min(j.due_at) FROM jobs j
    WHERE j.approval_id = a.id AND j.kind = 'expire' AND j.status = 'pending'
      AND j.due_at <= %(now)s
) AS overdue_at
FROM approvals a WHERE a.id = %(id)s
"""
GET_APPROVAL_BY_INTERRUPT = """
SELECT * FROM approvals WHERE thread_id = %(thread_id)s AND interrupt_id = %(interrupt_id)s
"""
LATEST_APPROVAL_FOR_RUN = """
SELECT * FROM approvals WHERE thread_id = %(thread_id)s AND ts IS NOT NULL
ORDER BY created_at DESC LIMIT 1
"""
RUN_APPROVALS = "SELECT * FROM approvals WHERE thread_id = %(thread_id)s ORDER BY created_at, id"
RUNS_APPROVALS = """
SELECT * FROM approvals WHERE thread_id IN ({ids}) ORDER BY thread_id, created_at, id
"""
SET_CARD = "UPDATE approvals SET ts = %(ts)s, channel = %(channel)s WHERE id = %(id)s"
# Every message showing a request: its cards and the requester's notice (bot.slack.card_posts).
# One of each kind per conversation: a post that is made again (a sweep after a crash) keeps
# the first.
INSERT_CARD_POST = """
INSERT INTO card_posts (approval_id, kind, channel, ts, person, stage, posted_at)
VALUES (%(approval_id)s, %(kind)s, %(channel)s, %(ts)s, %(person)s, %(stage)s, %(now)s)
ON CONFLICT (approval_id, kind, channel) DO NOTHING
"""
CARD_POSTS = """
SELECT * FROM card_posts WHERE approval_id = %(approval_id)s ORDER BY posted_at, channel
"""
IS_CARD_POST = """
SELECT 1 AS found FROM card_posts
WHERE approval_id = %(approval_id)s AND kind = 'card' AND channel = %(channel)s AND ts = %(ts)s
"""
# Of these requests, the ones shown in more than one place (a reminder goes to each).
SPREAD = """
SELECT approval_id FROM card_posts
WHERE approval_id IN ({ids}) AND kind = 'card'
GROUP BY approval_id HAVING COUNT(*) > 1
"""
# Cards to post now: pending, not posted, and due -- a card that failed waits out its backoff
# (``card_due_at``); one never tried yet is left a while to the run that asked for it. At most
# ``per_channel`` a channel, so one channel's cards that keep failing never take the room of
# another's (the LIMIT is what is left for everyone).
CARDS_DUE = """
SELECT * FROM (
    SELECT a.*, ROW_NUMBER() OVER (PARTITION BY channel ORDER BY card_due_at, created_at) AS nth
    FROM approvals a
    WHERE status = 'pending' AND ts IS NULL AND card_due_at <= %(now)s
      AND (card_attempts > 0 OR created_at < %(before)s)
) due
WHERE nth <= %(per_channel)s
ORDER BY card_due_at, created_at LIMIT %(limit)s
"""
# A card post that failed for now: tried again once ``due_at`` has passed.
CARD_RETRY = """
UPDATE approvals SET card_attempts = card_attempts + 1, card_due_at = %(due_at)s
WHERE id = %(id)s AND status = 'pending' AND ts IS NULL
RETURNING card_attempts, thread_id
"""
CARD_RETRY_AUDITED = f"WITH written AS ({CARD_RETRY.strip()}){WRITTEN_AUDITED}SELECT * FROM written"
# Slack refuses the card for good (no such channel, not a member, archived, bad blocks): the
# request is closed as failed (applied, so no sweep resumes it; nothing to decide any more).
CARD_REFUSED = """
UPDATE approvals
SET status = 'failed', decided_by = 'bot', decided_at = %(now)s, applied_at = %(now)s,
    card_attempts = card_attempts + 1
WHERE id = %(id)s AND status = 'pending' AND ts IS NULL
RETURNING *
"""
# ... and so is its run, unless it already ended otherwise.
RUN_CARD_REFUSED = """
UPDATE runs SET status = 'failed', result = %(result)s, updated_at = %(now)s, rerun = 0
WHERE thread_id = %(thread_id)s AND status NOT IN ('cancelled', 'done', 'stopped')
"""
# All of it in one statement: the request closed (CARD_REFUSED), its reminders and expiry
# cancelled (jobs' CANCEL_JOBS), its run failed (RUN_CARD_REFUSED) and the audit events written.
CARD_REFUSED_AUDITED = f"""
WITH written AS ({CARD_REFUSED.strip()}
), jobs_closed AS (
    UPDATE jobs SET status = 'cancelled', done_at = %(now)s
    WHERE approval_id IN (SELECT id FROM written) AND status = 'pending' AND kind <> 'refresh'
), run_failed AS (
    UPDATE runs SET status = 'failed', result = %(result)s, updated_at = %(now)s, rerun = 0
    WHERE thread_id IN (SELECT thread_id FROM written)
      AND status NOT IN ('cancelled', 'done', 'stopped')
){WRITTEN_AUDITED}SELECT * FROM written"""
PENDING = "SELECT * FROM approvals WHERE status = 'pending' ORDER BY created_at LIMIT %(limit)s"
COUNT_PENDING = "SELECT COUNT(*) AS n FROM approvals WHERE status = 'pending'"
