"""The ``effects`` table: side effects by idempotency key (:mod:`bot.core.ledger`)."""

from bot.store.sql.audit_log import WRITTEN_AUDITED

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
# The run an effect's audit events go under: ``thread_id`` is its key's first part, the run's
# own id ("<thread>:execute") or a request's ("<request>:where"), whose run it is then.
_OWNER = """COALESCE((SELECT a.thread_id FROM approvals a WHERE a.id = CAST(%(thread_id)s AS TEXT)),
                CAST(%(thread_id)s AS TEXT))"""
# A try's end with its ``effect`` audit events (``events``), in one statement on PostgreSQL ...
FINISH_EFFECT_AUDITED = f"""
WITH written AS ({FINISH_EFFECT.strip()}
    RETURNING {_OWNER} AS thread_id
){WRITTEN_AUDITED}SELECT * FROM written"""
# ... or, on SQLite, in one transaction: the end, then each event under the run it returns
# (audit_log.write_audited).
FINISH_EFFECT_RETURNING = f"{FINISH_EFFECT.rstrip()}\nRETURNING key, {_OWNER} AS thread_id\n"
