"""What every table group's statements share (:mod:`bot.store.rows`)."""

# Statements over a list of ids take it as one JSON array parameter, ``{ids}`` being this
# dialect's way of reading one: one round trip for a whole batch, on either database.
ID_LIST = {
    "postgres": "SELECT jsonb_array_elements_text(CAST(%(ids)s AS jsonb))",
    "sqlite": "SELECT value FROM json_each(%(ids)s)",
}
