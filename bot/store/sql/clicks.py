"""The ``inbox`` table's statements (:mod:`bot.store.clicks`): clicks recorded before their ack,
taken by a worker under a lease."""

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
# A Retry click recorded already taken, as INSERT_TAKEN_INBOX records a decision's: of no
# request, of the run it retries.
INSERT_TAKEN_RETRY = """
INSERT INTO inbox (id, approval_id, thread_id, decision, channel, received_at, attempts,
                   locked_until)
VALUES (%(id)s, '', %(thread_id)s, %(decision)s, %(channel)s, %(now)s, 1, %(lease)s)
"""
# RECEIVE_CLICK withdrawn, as runs' WITHDRAW_RUN withdraws a run: a click that landed, still
# under the receiving process's lease and untouched, is deleted; one not there yet is held off by
# a finished entry of no attempt under its id (or, landed meanwhile, turned into that entry).
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
# Before the deadline: a click received at it is late (jobs' OVERDUE_EXPIRY), as the expiry
# decides.
EARLIER_CLICKS = """
SELECT id FROM inbox
WHERE approval_id = %(approval_id)s AND done_at IS NULL AND received_at < %(before)s
ORDER BY received_at
"""
FINISH_INBOX = "UPDATE inbox SET done_at = %(now)s, locked_until = NULL WHERE id = %(id)s"
CLICK_CLOSED = "SELECT id FROM inbox WHERE id = %(id)s AND done_at IS NOT NULL"
# FINISH_INBOX only while still open: a click closes once, by whichever taker got there first.
CLOSE_OPEN_CLICK = f"{FINISH_INBOX} AND done_at IS NULL"
OPEN_INBOX = """
SELECT id FROM inbox
WHERE done_at IS NULL AND received_at < %(before)s
  AND (locked_until IS NULL OR locked_until < %(now)s)
ORDER BY received_at LIMIT %(limit)s
"""

# The decision path, on a statement budget (see bot.store.sql).

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
