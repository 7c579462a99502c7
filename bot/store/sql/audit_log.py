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
