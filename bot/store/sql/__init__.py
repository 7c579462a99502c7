"""Every statement the store runs, kept apart from the code that runs them: one module per table
group, named for the module that runs it (:mod:`bot.store.runs` runs :mod:`bot.store.sql.runs`;
:mod:`bot.core.ledger` runs :mod:`bot.store.sql.effects`). A statement a group runs on another
group's table, as a step of its own work, sits with that group; one that two groups run sits with
the group whose table it changes (or, a read, whose table it reads).

Written with ``%(name)s`` placeholders (the SQLite backend rewrites them to ``:name``); a
statement only one dialect has is a ``{dialect: SQL}`` dict.

The decision path is on a statement budget (issue 21; tests/inprocess/test_statement_budget.py):
taking a click (:mod:`~bot.store.sql.clicks`), claiming its request
(:mod:`~bot.store.sql.decisions`) and applying the decision (:mod:`~bot.store.sql.attempts`).
On PostgreSQL each step is one statement (data-modifying CTEs); on SQLite the same statements
run in one transaction. Every CTE sees the same snapshot, so a step that depends on another
within one statement says so with ``EXISTS (SELECT 1 FROM <step>)``.
"""
