"""Every statement the store runs, kept apart from the code that runs them."""

INSERT_RUN = """
INSERT INTO runs (thread_id, graph, request, requester, channel, approvals_channel, status,
                  created_at, updated_at, on_behalf_of, hand)
VALUES (%(thread_id)s, %(graph)s, %(request)s, %(requester)s, %(channel)s,
        %(approvals_channel)s, 'running', %(now)s, %(now)s, %(on_behalf_of)s, %(hand)s)
RETURNING *
"""
# INSERT_RUN withdrawn, run with its parameters when the connection was lost before its answer
# (bot.store.db.base.OutcomeUnknown; PostgreSQL only). A run that landed and nobody has touched
# is deleted: its row is there, so its statement is over. One that is not there may still be
# on its way (the lost connection's statement still running): a 'cancelled' row takes its id
# first, so it fails on arriving, or once it landed meanwhile (ON CONFLICT waits for it) turns
# it into that row. ``withdrawn``: false when the run was taken up already; it goes ahead.
WITHDRAWN_RUN = "Withdrawn before it started: its start could not be confirmed."
WITHDRAW_RUN = f"""
WITH gone AS (
    DELETE FROM runs
    WHERE thread_id = %(thread_id)s AND status = 'running' AND updated_at = %(now)s
      AND lease_until IS NULL
    RETURNING thread_id
), held AS (
    INSERT INTO runs AS r (thread_id, graph, request, requester, channel, approvals_channel,
                           status, result, created_at, updated_at)
    SELECT %(thread_id)s, %(graph)s, %(request)s, %(requester)s, %(channel)s,
           %(approvals_channel)s, 'cancelled', '{WITHDRAWN_RUN}', %(now)s, %(now)s
    WHERE NOT EXISTS (SELECT 1 FROM gone)
    ON CONFLICT (thread_id) DO UPDATE SET status = 'cancelled', result = EXCLUDED.result
    WHERE (r.status = 'running' AND r.updated_at = %(now)s AND r.lease_until IS NULL)
       OR (r.status = 'cancelled' AND r.result = EXCLUDED.result)
    RETURNING r.thread_id
)
SELECT EXISTS (SELECT 1 FROM gone) OR EXISTS (SELECT 1 FROM held) AS withdrawn
"""
GET_RUN = "SELECT * FROM runs WHERE thread_id = %(thread_id)s"
# Run ids are lowercase hex, so a prefix holds no LIKE wildcards.
RUNS_BY_PREFIX = """
SELECT * FROM runs WHERE thread_id LIKE %(prefix)s ORDER BY created_at DESC LIMIT %(limit)s
"""
RUNS_OF = """
SELECT * FROM runs WHERE requester = %(requester)s ORDER BY created_at DESC LIMIT %(limit)s
"""
# Cancelled is final: nothing moves a cancelled run anywhere else.
SET_RUN_STATUS = """
UPDATE runs SET status = %(status)s, result = COALESCE(%(result)s, result), updated_at = %(now)s
WHERE thread_id = %(thread_id)s AND status <> 'cancelled'
"""
# A run's end (say done or failed, as SET_RUN_STATUS) and its audit events (``events``, as in
# CLOSE_APPLY) in one statement: no crash or lost connection comes between the two. The events
# are written even when the run was cancelled meanwhile (what happened is recorded, as
# CLOSE_APPLY's are); ``moved``: whether the run's status moved.
END_RUN = """
WITH moved AS (
    UPDATE runs SET status = %(status)s, result = COALESCE(%(result)s, result),
                    updated_at = %(now)s
    WHERE thread_id = %(thread_id)s AND status <> 'cancelled'
    RETURNING thread_id
), audited AS (
    INSERT INTO audit (at, thread_id, approval_id, event, actor, detail)
    SELECT CAST(e ->> 0 AS DOUBLE PRECISION), %(thread_id)s, NULLIF(e ->> 4, ''), e ->> 1,
           e ->> 2, e ->> 3
    FROM jsonb_array_elements(CAST(%(events)s AS jsonb)) AS e
)
SELECT COUNT(*) AS moved FROM moved
"""
# Retry: a failed run back to running, only if it is still failed (another Retry, or a prune
# that chose it and holds its row, came first: bot.store.retention).
RETRY_RUN = """
UPDATE runs SET status = 'running', updated_at = %(now)s
WHERE thread_id = %(thread_id)s AND status = 'failed'
"""
SET_RUN_TRACE = "UPDATE runs SET trace_id = %(trace_id)s WHERE thread_id = %(thread_id)s"
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
# Runs nobody is moving: still "running" a while after their last change (a run whose every
# request is decided is "running", never "waiting"), or "stopped" by a decision with the report
# not yet posted -- and no worker's lease on them is current: a run whose step takes long is
# leased (its heartbeat renews the lease), so only a lease that ran out makes it stale.
STALE_RUNS = """
SELECT * FROM runs r
WHERE r.status IN ('running', 'stopped') AND r.updated_at < %(before)s
  AND (r.lease_until IS NULL OR r.lease_until < %(now)s)
ORDER BY r.updated_at LIMIT %(limit)s
"""
# A worker steps the run until ``until`` (bot.core.leases); NULL: nobody does.
SET_LEASES = "UPDATE runs SET lease_until = %(until)s WHERE thread_id IN ({ids})"

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
# is then checked against it under the run's sign-off lock; see _CLAIM).
MARK_DISTINCT_RUN = """
UPDATE approvals SET distinct_run = 1 WHERE thread_id = %(thread_id)s AND distinct_run = 0
"""
GET_APPROVAL = "SELECT * FROM approvals WHERE id = %(id)s"
# Before a form opens: the request, and when its deadline passed (``overdue_at``) if it has and
# the expiry is still to run: what would be submitted in the form is late (OVERDUE_EXPIRY).
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
# at applying is counted with it (the fencing token of BEGIN_APPLY, below).
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
RETURNING card_attempts
"""
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
UPDATE runs SET status = 'failed', result = %(result)s, updated_at = %(now)s
WHERE thread_id = %(thread_id)s AND status NOT IN ('cancelled', 'done', 'stopped')
"""
PENDING = "SELECT * FROM approvals WHERE status = 'pending' ORDER BY created_at LIMIT %(limit)s"
COUNT_PENDING = "SELECT COUNT(*) AS n FROM approvals WHERE status = 'pending'"

BEGIN_EFFECT = """
INSERT INTO effects (key, status, created_at, updated_at)
VALUES (%(key)s, 'started', %(now)s, %(now)s)
ON CONFLICT (key) DO NOTHING
"""
GET_EFFECT = "SELECT * FROM effects WHERE key = %(key)s"
# Only an effect the target certainly refused is tried again, by one caller at a time, once
# its backoff has passed.
RETRY_EFFECT = """
UPDATE effects SET status = 'started', attempts = attempts + 1, updated_at = %(now)s
WHERE key = %(key)s AND status = 'retry' AND (retry_at IS NULL OR retry_at <= %(now)s)
RETURNING attempts
"""
# A try that found no free slot sent nothing: back to "retry", due now, the try not counted.
UNBEGIN_EFFECT = """
UPDATE effects SET status = 'retry', attempts = attempts - 1, retry_at = %(now)s,
                   updated_at = %(now)s
WHERE key = %(key)s AND status = 'started'
"""
# A try whose "started" mark may have landed though its answer was lost (the connection dropped):
# the mark this very try wrote (stamped with its own ``now``) is put back, as the effect was
# never sent; a mark written by anyone else (a crashed process's call, maybe under way) stays.
UNDO_BEGIN_EFFECT = """
UPDATE effects SET status = 'retry', attempts = attempts - 1, retry_at = %(now)s
WHERE key = %(key)s AND status = 'started' AND updated_at = %(now)s
"""
FINISH_EFFECT = """
UPDATE effects SET status = %(status)s, result = %(result)s, updated_at = %(now)s,
                   retry_at = %(retry_at)s
WHERE key = %(key)s
"""

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
# Statements over a list of ids take it as one JSON array parameter, ``{ids}`` being this
# dialect's way of reading one: one round trip for a whole batch, on either database.
ID_LIST = {
    "postgres": "SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))",
    "sqlite": "SELECT value FROM json_each(%(ids)s)",
}
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

INSERT_INBOX = """
INSERT INTO inbox (id, approval_id, decision, channel, received_at)
VALUES (%(id)s, %(approval_id)s, %(decision)s, %(channel)s, %(now)s)
"""
# Taken under a lease, like jobs: one worker at a time, and a dead worker's entry comes back.
# ``ours``: the lease this process holds on it already (NULL: none), taken again to renew it.
TAKE_INBOX = """
UPDATE inbox SET locked_until = %(lease)s, attempts = attempts + 1
WHERE id = %(id)s AND done_at IS NULL
  AND (locked_until IS NULL OR locked_until < %(now)s OR locked_until = %(ours)s)
RETURNING *
"""
# A click recorded already taken, under the receiving process's lease: its first attempt.
INSERT_TAKEN_INBOX = """
INSERT INTO inbox (id, approval_id, decision, channel, received_at, attempts, locked_until)
VALUES (%(id)s, %(approval_id)s, %(decision)s, %(channel)s, %(now)s, 1, %(lease)s)
"""
# RECEIVE_CLICK withdrawn, as WITHDRAW_RUN withdraws a run: a click that landed, still under
# the receiving process's lease and untouched, is deleted; one not there yet is held off by a
# finished entry of no attempt under its id (or, landed meanwhile, turned into that entry).
WITHDRAW_CLICK = """
WITH gone AS (
    DELETE FROM inbox
    WHERE id = %(id)s AND done_at IS NULL AND attempts = 1 AND locked_until = %(lease)s
    RETURNING id
), held AS (
    INSERT INTO inbox AS i (id, approval_id, decision, channel, received_at, attempts, done_at)
    SELECT %(id)s, %(approval_id)s, %(decision)s, %(channel)s, %(now)s, 0, %(now)s
    WHERE NOT EXISTS (SELECT 1 FROM gone)
    ON CONFLICT (id) DO UPDATE SET attempts = 0, locked_until = NULL, done_at = %(now)s
    WHERE (i.done_at IS NULL AND i.attempts = 1 AND i.locked_until = %(lease)s)
       OR (i.done_at IS NOT NULL AND i.attempts = 0)
    RETURNING i.id
)
SELECT EXISTS (SELECT 1 FROM gone) OR EXISTS (SELECT 1 FROM held) AS withdrawn
"""
# Only our own lease: another process may have taken the entry since ours ran out.
RELEASE_INBOX = """
UPDATE inbox SET locked_until = NULL
WHERE id = %(id)s AND done_at IS NULL AND locked_until = %(lease)s
"""
# Before the deadline: a click received at it is late (OVERDUE_EXPIRY), as the expiry decides.
EARLIER_CLICKS = """
SELECT id FROM inbox
WHERE approval_id = %(approval_id)s AND done_at IS NULL AND received_at < %(before)s
ORDER BY received_at
"""
FINISH_INBOX = "UPDATE inbox SET done_at = %(now)s, locked_until = NULL WHERE id = %(id)s"
OPEN_INBOX = """
SELECT id FROM inbox
WHERE done_at IS NULL AND received_at < %(before)s
  AND (locked_until IS NULL OR locked_until < %(now)s)
ORDER BY received_at LIMIT %(limit)s
"""

INSERT_AUDIT = """
INSERT INTO audit (at, thread_id, approval_id, event, actor, detail)
VALUES (%(at)s, %(thread_id)s, %(approval_id)s, %(event)s, %(actor)s, %(detail)s)
"""
# One event for many requests in one statement; ``pairs`` is a JSON list of [run, request].
INSERT_AUDIT_EACH = {
    "postgres": """
INSERT INTO audit (at, thread_id, approval_id, event, actor, detail)
SELECT %(at)s, e ->> 0, e ->> 1, %(event)s, %(actor)s, '{}'
FROM jsonb_array_elements(CAST(%(pairs)s AS jsonb)) AS e
""",
    "sqlite": """
INSERT INTO audit (at, thread_id, approval_id, event, actor, detail)
SELECT %(at)s, json_extract(value, '$[0]'), json_extract(value, '$[1]'), %(event)s, %(actor)s, '{}'
FROM json_each(%(pairs)s)
""",
}
AUDIT_FOR_RUN = "SELECT * FROM audit WHERE thread_id = %(thread_id)s ORDER BY at"
AUDIT_SINCE = "SELECT * FROM audit WHERE at >= %(after)s ORDER BY at"

# Remembered approvals (bot.store.rules). A rule is used, and a request claimed by it, in one
# transaction: a revoke that commits first leaves the rule unusable (the UPDATE finds it
# revoked); one that comes after waits for the row and revokes it for the next request.
INSERT_RULE = """
INSERT INTO rules (graph, action, step, requester, channel, match, created_by, created_at,
                   expires_at, approval_id, thread_id)
VALUES (%(graph)s, %(action)s, %(step)s, %(requester)s, %(channel)s, %(match)s, %(created_by)s,
        %(now)s, %(expires_at)s, %(approval_id)s, %(thread_id)s)
RETURNING *
"""
GET_RULE = "SELECT * FROM rules WHERE id = %(id)s"
MATCHING_RULE = """
SELECT * FROM rules
WHERE graph = %(graph)s AND action = %(action)s AND step = %(step)s
  AND requester = %(requester)s AND channel = %(channel)s AND match = %(match)s
  AND revoked_at IS NULL AND expires_at > %(now)s
ORDER BY expires_at DESC, id LIMIT 1
"""
USE_RULE = """
UPDATE rules SET uses = uses + 1, last_used_at = %(now)s
WHERE id = %(id)s AND revoked_at IS NULL AND expires_at > %(now)s
RETURNING *
"""
LIVE_RULES = """
SELECT * FROM rules WHERE revoked_at IS NULL AND expires_at > %(now)s
ORDER BY id LIMIT %(limit)s
"""
REVOKE_RULE = """
UPDATE rules SET revoked_at = %(now)s, revoked_by = %(by)s
WHERE id = %(id)s AND revoked_at IS NULL AND expires_at > %(now)s
RETURNING *
"""

# The decision path, on a statement budget (issue 21; tests/inprocess/test_statement_budget.py).
# On PostgreSQL each step below is one statement (data-modifying CTEs); on SQLite the same
# statements run in one transaction. Every CTE sees the same snapshot, so a step that depends
# on another within one statement says so with ``EXISTS (SELECT 1 FROM <step>)``.

# A worker takes a recorded click, with the request it names and that request's expiry if it
# fell due by the time the click arrived (a click acknowledged in time beats its expiry).
# As JSON text, left for the caller to parse when it needs the rows (RECEIVE_CLICK: in the
# worker, not on the way to the ack).
_WITH_ITS_REQUEST = """
SELECT CAST(to_jsonb(taken) AS text) AS entry, CAST(to_jsonb(a) AS text) AS approval,
       (SELECT CAST(to_jsonb(j) AS text) FROM jobs j
        WHERE j.approval_id = taken.approval_id AND j.kind = 'expire' AND j.status = 'pending'
          AND j.due_at <= taken.received_at
        ORDER BY j.due_at LIMIT 1) AS overdue
FROM taken LEFT JOIN approvals a ON a.id = taken.approval_id
"""
TAKE_CLICK = f"WITH taken AS ({TAKE_INBOX.strip()}){_WITH_ITS_REQUEST}"
# A click recorded and taken in one (before its ack): the receiving process works on it
# under its lease from the start, with the request read in the same round trip.
RECEIVE_CLICK = f"""
WITH taken AS ({INSERT_TAKEN_INBOX.strip()}
RETURNING *){_WITH_ITS_REQUEST}"""
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
# CLAIM_CLOSING and BEGIN_APPLY in one, under the run's lock (CLAIM_COUNTED): the request's
# claim, what it closes, and its first attempt at applying, with what that starts from.
CLAIM_BEGIN = f"WITH counted AS ({CLAIM_COUNTED.strip()}), claimed AS (SELECT * FROM counted)"
CLAIM_BEGIN += f"{_CLOSING}{_STARTED}"
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
# nothing to record), the decision marked applied (fenced: only the latest attempt), and, only
# then, the run's new status and the audit events (``events``, as in CLAIM_CLOSING).
CLOSE_APPLY = """
WITH effect AS (
    UPDATE effects SET status = 'done', result = %(effect_result)s, updated_at = %(now)s,
                       retry_at = NULL
    WHERE key = %(effect)s
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
