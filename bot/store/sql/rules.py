"""The ``rules`` table's statements: remembered approvals (:mod:`bot.store.rules`)."""

from bot.store.sql.audit_log import WRITTEN_AUDITED

# A rule is used, and a request claimed by it, in one transaction (bot.store.decisions): a
# revoke that commits first leaves the rule unusable (the UPDATE finds it revoked); one that
# comes after waits for the row and revokes it for the next request.
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
# ... with its audit events (``events``, as in audit_log's WRITTEN_AUDITED), in one statement.
REVOKE_RULE_AUDITED = (
    f"WITH written AS ({REVOKE_RULE.strip()}){WRITTEN_AUDITED}SELECT * FROM written"
)
