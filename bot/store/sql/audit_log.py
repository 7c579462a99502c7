"""The ``audit`` table's statements (:mod:`bot.store.audit_log`)."""

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
# The audit events (``events``, as in attempts' CLOSE_APPLY) of the row (a request, a rule)
# that the CTE ``written`` wrote, only if it wrote one: in one statement with the write
# (requests' CARD_RETRY_AUDITED and CARD_REFUSED_AUDITED, rules' REVOKE_RULE_AUDITED), so no
# crash or lost connection comes between them.
WRITTEN_AUDITED = """
, audited AS (
    INSERT INTO audit (at, thread_id, approval_id, event, actor, detail)
    SELECT CAST(e ->> 0 AS DOUBLE PRECISION), w.thread_id, NULLIF(e ->> 4, ''), e ->> 1,
           e ->> 2, e ->> 3
    FROM written w, jsonb_array_elements(CAST(%(events)s AS jsonb)) AS e
)
"""
