"""The ``runs`` table's statements (:mod:`bot.store.runs`): starting a run (and withdrawing a start
not confirmed), reading runs, their status and their lease."""

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
# A run that failed has no Retry left to carry out (``rerun``): only a new Retry runs it again,
# not a later move of it (a webhook of the server's run, a replay of one).
RERUN_AT_END = "CASE WHEN %(status)s = 'failed' THEN 0 ELSE rerun END"
SET_RUN_STATUS = f"""
UPDATE runs SET status = %(status)s, result = COALESCE(%(result)s, result), updated_at = %(now)s,
                rerun = {RERUN_AT_END}
WHERE thread_id = %(thread_id)s AND status <> 'cancelled'
"""
# The failure notice a run owes once it ended with ``status``: a failure's own (``notice``),
# or, for a failure that owes none (a decision's attempt that was not its last, tried again by
# the sweep), the one an earlier failure still owes (another decision given up on, whose notice
# Slack refused for now), or nobody is ever told of it; none once the run is done.
NOTICE_AT_END = "CASE WHEN %(status)s = 'failed' THEN COALESCE(%(notice)s, notice) END"
# A run's end (say done or failed, as SET_RUN_STATUS) and its audit events (``events``, as in
# attempts' CLOSE_APPLY) in one statement: no crash or lost connection comes between the two.
# The events are written even when the run was cancelled meanwhile (what happened is recorded,
# as CLOSE_APPLY's are); ``moved``: whether the run's status moved.
END_RUN = f"""
WITH moved AS (
    UPDATE runs SET status = %(status)s, result = COALESCE(%(result)s, result),
                    updated_at = %(now)s, notice = {NOTICE_AT_END}, rerun = {RERUN_AT_END}
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
# The failure notice a run owes (bot.domain.models.FailureNotice; NULL: none), written with its
# failure; said and cleared later (only the notice that was said: a newer one stays).
SET_NOTICE = """
UPDATE runs SET notice = %(notice)s
WHERE thread_id = %(thread_id)s AND status <> 'cancelled'
"""
# END_RUN's notice, on SQLite (after SET_RUN_STATUS, in its transaction).
END_NOTICE = f"""
UPDATE runs SET notice = {NOTICE_AT_END}
WHERE thread_id = %(thread_id)s AND status <> 'cancelled'
"""
NOTICE_SAID = """
UPDATE runs SET notice = NULL WHERE thread_id = %(thread_id)s AND notice = %(notice)s
"""
# Still owed, as the sweep found it: not once the run was retried (its notice cleared), nor
# when it failed again since (a newer notice of its own).
NOTICE_OWED = """
SELECT 1 AS owed FROM runs
WHERE thread_id = %(thread_id)s AND status = 'failed' AND notice = %(notice)s
"""
OWED_NOTICES = """
SELECT * FROM runs
WHERE notice IS NOT NULL AND status = 'failed' AND updated_at < %(before)s
ORDER BY updated_at LIMIT %(limit)s
"""
# Retry: a failed run back to running, only if it is still failed (another Retry, or a prune
# that chose it and holds its row, came first: bot.store.retention).
# A notice of its failure still owed is not said any more: the person retried it.
# ``rerun``: the run itself is to be run again (Engine.advance), unless it has decisions given
# up on (RESET_APPLY's), which are applied again instead.
RETRY_RUN = """
UPDATE runs SET status = 'running', updated_at = %(now)s, notice = NULL,
                rerun = CASE WHEN EXISTS (
                    SELECT 1 FROM approvals a WHERE a.thread_id = %(thread_id)s
                    AND a.status <> 'pending' AND a.applied_at IS NULL) THEN 0 ELSE 1 END
WHERE thread_id = %(thread_id)s AND status = 'failed'
"""
# The retried run was run again (or found no longer failed): no later move runs it again.
RERUN_DONE = "UPDATE runs SET rerun = 0 WHERE thread_id = %(thread_id)s AND rerun = 1"
SET_RUN_TRACE = "UPDATE runs SET trace_id = %(trace_id)s WHERE thread_id = %(thread_id)s"
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
