"""Numbered migrations, applied in order, each once. Never edit one that has shipped.

A statement is SQL both databases run, or ``{dialect: SQL}`` for what only one of them has.
"""

from __future__ import annotations

Statement = str | dict[str, str]

MIGRATIONS: list[tuple[int, list[Statement]]] = [
    (
        1,
        [
            """CREATE TABLE IF NOT EXISTS runs (
                thread_id TEXT PRIMARY KEY,
                graph TEXT NOT NULL,
                request TEXT NOT NULL,
                requester TEXT NOT NULL,
                channel TEXT NOT NULL,
                approvals_channel TEXT NOT NULL,
                status TEXT NOT NULL,
                result TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS runs_status ON runs (status, updated_at)",
            """CREATE TABLE IF NOT EXISTS approvals (
                id TEXT PRIMARY KEY,
                thread_id TEXT NOT NULL REFERENCES runs (thread_id),
                interrupt_id TEXT NOT NULL,
                graph TEXT NOT NULL,
                request TEXT NOT NULL,
                requester TEXT NOT NULL,
                payload TEXT NOT NULL,
                channel TEXT NOT NULL,
                ts TEXT,
                status TEXT NOT NULL,
                decided_by TEXT,
                decided_at DOUBLE PRECISION,
                decision TEXT,
                applied_at DOUBLE PRECISION,
                created_at DOUBLE PRECISION NOT NULL,
                UNIQUE (thread_id, interrupt_id)
            )""",
            """CREATE INDEX IF NOT EXISTS approvals_unapplied ON approvals (decided_at)
                WHERE status <> 'pending' AND applied_at IS NULL""",
            "CREATE INDEX IF NOT EXISTS approvals_card ON approvals (channel, ts)",
            """CREATE TABLE IF NOT EXISTS effects (
                key TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                result TEXT,
                created_at DOUBLE PRECISION NOT NULL,
                updated_at DOUBLE PRECISION NOT NULL
            )""",
        ],
    ),
    (
        2,
        [
            """CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY,
                approval_id TEXT NOT NULL REFERENCES approvals (id),
                kind TEXT NOT NULL,
                level INTEGER NOT NULL,
                round INTEGER NOT NULL,
                detail TEXT NOT NULL,
                due_at DOUBLE PRECISION NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                locked_until DOUBLE PRECISION,
                last_error TEXT,
                done_at DOUBLE PRECISION
            )""",
            # The tick reads only due, pending jobs: its cost follows what is due, not what waits.
            "CREATE INDEX IF NOT EXISTS jobs_due ON jobs (due_at) WHERE status = 'pending'",
            "CREATE INDEX IF NOT EXISTS jobs_approval ON jobs (approval_id)",
        ],
    ),
    (
        3,
        # What the reviewer is asked (bot.domain.review.Review as JSON), described once by an
        # adapter.
        ["ALTER TABLE approvals ADD COLUMN review TEXT"],
    ),
    (
        4,
        [
            # Clicks and modal submissions, written before Slack is told they arrived: a crash or
            # a deploy after the ack can no longer lose one (the recovery sweep drains them).
            """CREATE TABLE IF NOT EXISTS inbox (
                id TEXT PRIMARY KEY,
                approval_id TEXT NOT NULL,
                decision TEXT NOT NULL,
                channel TEXT,
                received_at DOUBLE PRECISION NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0,
                locked_until DOUBLE PRECISION,
                done_at DOUBLE PRECISION
            )""",
            "CREATE INDEX IF NOT EXISTS inbox_open ON inbox (received_at) WHERE done_at IS NULL",
        ],
    ),
    (
        5,
        # Effects that certainly failed (the target said no) are retried a bounded number of times.
        ["ALTER TABLE effects ADD COLUMN attempts INTEGER NOT NULL DEFAULT 1"],
    ),
    (
        6,
        # Applying a claimed decision is retried by the sweep a bounded number of times.
        ["ALTER TABLE approvals ADD COLUMN apply_attempts INTEGER NOT NULL DEFAULT 0"],
    ),
    (
        7,
        [
            # Sign-off: who must sign a request (bot.domain.signoff.SignOff as JSON), the stage
            # being signed, and for later rounds of a run the thread of its first card.
            "ALTER TABLE approvals ADD COLUMN signoff TEXT",
            "ALTER TABLE approvals ADD COLUMN stage INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE approvals ADD COLUMN thread_ts TEXT",
            # One vote per person and stage: clicking twice counts once.
            """CREATE TABLE IF NOT EXISTS votes (
                approval_id TEXT NOT NULL REFERENCES approvals (id),
                stage INTEGER NOT NULL,
                voter TEXT NOT NULL,
                vote TEXT NOT NULL,
                decision TEXT NOT NULL,
                void INTEGER NOT NULL DEFAULT 0,
                cast_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (approval_id, stage, voter)
            )""",
        ],
    ),
    (
        8,
        [
            # The audit trail (bot.store.audit_log): appended to, never changed.
            """CREATE TABLE IF NOT EXISTS audit (
                at DOUBLE PRECISION NOT NULL,
                thread_id TEXT NOT NULL,
                approval_id TEXT,
                event TEXT NOT NULL,
                actor TEXT NOT NULL,
                detail TEXT NOT NULL
            )""",
            "CREATE INDEX IF NOT EXISTS audit_run ON audit (thread_id, at)",
            "CREATE INDEX IF NOT EXISTS audit_at ON audit (at)",
        ],
    ),
    (
        9,
        [
            # What waits, oldest first: the Home tab, /agent pending, the pending gauge and the
            # sweep for unposted cards read only these rows, however many were ever decided.
            """CREATE INDEX IF NOT EXISTS approvals_pending ON approvals (created_at)
                WHERE status = 'pending'""",
        ],
    ),
    (
        10,
        [
            # From now on a run whose decisions are all applied is "running" until published
            # again, so the stale-run sweep reads only running runs, not every waiting one (it
            # was O(pending)). Runs an earlier version left waiting with nothing to wait on:
            """UPDATE runs SET status = 'running'
                WHERE status = 'waiting' AND NOT EXISTS (
                    SELECT 1 FROM approvals a
                    WHERE a.thread_id = runs.thread_id
                      AND (a.status = 'pending' OR a.applied_at IS NULL))""",
        ],
    ),
    (
        11,
        [
            # Cards not posted yet: the recovery sweep reads these every tick, and among 100k
            # waiting requests it scanned every one of them for a missing ``ts``.
            """CREATE INDEX IF NOT EXISTS approvals_cardless ON approvals (created_at)
                WHERE status = 'pending' AND ts IS NULL""",
            # Every tick updates the jobs it claims (their lease) in place: with room left on
            # each page, PostgreSQL writes the new row version beside the old one and touches
            # no index (a HOT update), which halved the claim of 1,000 due jobs. New pages get
            # the room; a table that is already full gets it as its pages are rewritten.
            {"postgres": "ALTER TABLE jobs SET (fillfactor = 70)"},
        ],
    ),
    (
        12,
        [
            # Votes are for a version: an edit makes a new one, and a click on a card that
            # still showed the old version is refused (bot.store.repository.Store.vote).
            "ALTER TABLE approvals ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE votes ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
        ],
    ),
    (
        13,
        # A retried effect waits out its backoff (bot.core.backoff) before it is tried again.
        ["ALTER TABLE effects ADD COLUMN retry_at DOUBLE PRECISION"],
    ),
    (
        16,
        [
            # A run whose every request is decided is on the move ("running", which the
            # stale-run sweep looks at), never "waiting": earlier versions could leave one
            # waiting forever after a decision given while a LangGraph Server thread was busy.
            """UPDATE runs SET status = 'running'
                WHERE status = 'waiting' AND NOT EXISTS (
                    SELECT 1 FROM approvals a
                    WHERE a.thread_id = runs.thread_id AND a.status = 'pending')""",
        ],
    ),
    (
        17,
        [
            # Each request's card posts: how many failed, and when the next may be tried
            # (bot.slack.card_posts). A card Slack keeps refusing for a while waits out its backoff
            # instead of taking the sweep's room from the cards that can be posted.
            "ALTER TABLE approvals ADD COLUMN card_attempts INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE approvals ADD COLUMN card_due_at DOUBLE PRECISION NOT NULL DEFAULT 0",
            # The sweep reads unposted cards by when they are due (replaces migration 11's).
            "DROP INDEX IF EXISTS approvals_cardless",
            """CREATE INDEX IF NOT EXISTS approvals_card_due ON approvals (card_due_at, created_at)
                WHERE status = 'pending' AND ts IS NULL""",
        ],
    ),
    (
        18,
        # While a worker steps a run it holds a lease on it, renewed by a heartbeat
        # (bot.core.leases): the stale-run sweep takes a run whose lease ran out, never one that is
        # merely old (a long step is not a stuck run).
        ["ALTER TABLE runs ADD COLUMN lease_until DOUBLE PRECISION"],
    ),
    (
        19,
        # Each attempt at applying a decision gets a fencing token; only the latest may mark
        # the decision applied (bot.store.repository.Store.mark_applied).
        ["ALTER TABLE approvals ADD COLUMN apply_fence INTEGER NOT NULL DEFAULT 0"],
    ),
    (
        20,
        # The trace of the run's latest invocation (bot.agents.traces): its card and /agent status
        # link to it when LangSmith tracing is on.
        ["ALTER TABLE runs ADD COLUMN trace_id TEXT"],
    ),
    (
        21,
        [
            # Every message that shows a request (bot.slack.card_posts): its cards (the one in a
            # channel, each copy sent to a decider's direct messages, a later stage's card in
            # its own channel), all redrawn whenever the request changes, and the line that
            # tells the requester where it waits ("notice").
            """CREATE TABLE IF NOT EXISTS card_posts (
                approval_id TEXT NOT NULL REFERENCES approvals (id),
                kind TEXT NOT NULL,
                channel TEXT NOT NULL,
                ts TEXT NOT NULL,
                person TEXT,
                stage INTEGER NOT NULL DEFAULT 0,
                posted_at DOUBLE PRECISION NOT NULL,
                PRIMARY KEY (approval_id, kind, channel)
            )""",
        ],
    ),
    (
        22,
        [
            # Remembered approvals (bot.core.rules): "Approve, and don't ask again for 1h" makes
            # a rule; a later request in its scope (graph, action, requester, channel and the
            # remembered arguments' values, as canonical JSON) is approved by it until it expires
            # or is revoked. Numbered ids: people name them ("/agent rules revoke 12").
            {
                "postgres": """CREATE TABLE IF NOT EXISTS rules (
                    id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
                    graph TEXT NOT NULL,
                    action TEXT NOT NULL,
                    requester TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    match TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL,
                    approval_id TEXT NOT NULL,
                    thread_id TEXT NOT NULL,
                    revoked_at DOUBLE PRECISION,
                    revoked_by TEXT,
                    uses INTEGER NOT NULL DEFAULT 0,
                    last_used_at DOUBLE PRECISION
                )""",
                "sqlite": """CREATE TABLE IF NOT EXISTS rules (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    graph TEXT NOT NULL,
                    action TEXT NOT NULL,
                    requester TEXT NOT NULL,
                    channel TEXT NOT NULL,
                    match TEXT NOT NULL,
                    created_by TEXT NOT NULL,
                    created_at DOUBLE PRECISION NOT NULL,
                    expires_at DOUBLE PRECISION NOT NULL,
                    approval_id TEXT NOT NULL,
                    thread_id TEXT NOT NULL,
                    revoked_at DOUBLE PRECISION,
                    revoked_by TEXT,
                    uses INTEGER NOT NULL DEFAULT 0,
                    last_used_at DOUBLE PRECISION
                )""",
            },
            # Every new request looks for a rule in its scope: only live rules are indexed.
            """CREATE INDEX IF NOT EXISTS rules_scope
                ON rules (graph, action, requester, channel, expires_at)
                WHERE revoked_at IS NULL""",
        ],
    ),
    (
        23,
        # A decision's first attempt at applying (fence 1) is not guarded by a read of the
        # checkpoint (bot.core.applying.Applier._first_attempt). A decision claimed before the
        # fence existed (19) may have had attempts that left it at 0: its next is not a first.
        ["UPDATE approvals SET apply_fence = 1 WHERE apply_fence = 0 AND status <> 'pending'"],
    ),
    (
        24,
        # A rule made on a pause that names no action covers that step of its graph (the node
        # that paused), not every plain pause of the graph. A rule made before has no step: it
        # covers no step, so those requests are asked again (bot.core.remember.scope_of).
        ["ALTER TABLE rules ADD COLUMN step TEXT NOT NULL DEFAULT ''"],
    ),
    (
        25,
        # A run an ``on_behalf`` API token started in another person's name: the token
        # (``on_behalf_of``) and the Slack user who holds it (``hand``), who asked for it as much
        # as its requester did and may no more approve it (bot.core.deciders.refusal).
        [
            "ALTER TABLE runs ADD COLUMN on_behalf_of TEXT",
            "ALTER TABLE runs ADD COLUMN hand TEXT",
        ],
    ),
    (
        26,
        # Why the graph refused the last answer it was handed (bot.core.applying.Applier._refused):
        # the request is asked again, and its card says so.
        ["ALTER TABLE approvals ADD COLUMN refused TEXT"],
    ),
    (
        27,
        # A run with a request signed by distinct people (``distinct`` on its section, an
        # action's as much as a graph's): each of its requests is checked against that one
        # under the run's sign-off lock, and a claim made without that lock loses to the mark
        # (bot.core.tally.SignOffTally.guarded). Runs recorded before: from their sign-offs' JSON.
        [
            "ALTER TABLE approvals ADD COLUMN distinct_run INTEGER NOT NULL DEFAULT 0",
            {
                "sqlite": """UPDATE approvals SET distinct_run = 1 WHERE thread_id IN (
                    SELECT thread_id FROM approvals
                    WHERE instr(signoff, '"distinct": true') > 0)""",
                "postgres": """UPDATE approvals SET distinct_run = 1 WHERE thread_id IN (
                    SELECT thread_id FROM approvals
                    WHERE strpos(signoff, '"distinct": true') > 0)""",
            },
        ],
    ),
    (
        28,
        # A decision reads its request's overdue expiry and closes its request's pending jobs:
        # by request. Without this index PostgreSQL, before it had statistics on a new table,
        # went through jobs_due as well and read every waiting request's jobs on every click.
        [
            """CREATE INDEX IF NOT EXISTS jobs_pending_of
                ON jobs (approval_id, kind, due_at) WHERE status = 'pending'""",
        ],
    ),
    (
        29,
        # The notice a failed run owes its requester, written with the failure and cleared once
        # said (bot.core.run_ends.RunEnds.failed): a crash in between, or Slack refusing it for
        # now, leaves it to the recovery sweep, which alone finds failed runs no more.
        [
            "ALTER TABLE runs ADD COLUMN notice TEXT",
            """CREATE INDEX IF NOT EXISTS runs_notice
                ON runs (updated_at) WHERE notice IS NOT NULL""",
        ],
    ),
    (
        30,
        # A Retry click, recorded before its ack as any click is (bot.core.click_inbox): the
        # run it retries (its ``approval_id`` is then '', no request).
        ["ALTER TABLE inbox ADD COLUMN thread_id TEXT"],
    ),
    (
        31,
        # A Retry set the run going and its runner has not been asked to run it again yet
        # (bot.core.engine.Engine.advance): a run that failed on a LangGraph Server shows that
        # failure until a new run is made, so a sweep after a crash there must know that it
        # was retried, not left failing, or it reports the retried failure again.
        ["ALTER TABLE runs ADD COLUMN rerun INTEGER NOT NULL DEFAULT 0"],
    ),
]
