"""``python -m bot audit``: export the audit trail as CSV or JSON Lines.

Reads ``DATABASE_URL`` (and nothing else: no Slack or model variables are needed)::

    python -m bot audit --since 7d --format csv > audit.csv
    python -m bot audit --since 24h --format json --run 3f9a1c2e

Both formats carry :data:`bot.store.audit_log.FIELDS`. It never creates a database: an unset
``DATABASE_URL`` reads the bot's default SQLite file only if it exists. Exit codes: 0 exported,
1 no such run, 2 a usage error or a database that is missing or unreachable (one line, no
traceback).
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from bot.agents.langgraph_json import apply_config_env
from bot.cli.parsers import audit_parser
from bot.config import ConfigError, database_url
from bot.config.durations import parse_duration


def main(argv: list[str], env: Mapping[str, str] = os.environ) -> int:
    try:
        args = audit_parser().parse_args(argv)
    except SystemExit as stop:  # argparse has printed what is wrong
        return int(stop.code or 0)
    try:
        since = parse_duration(args.since)
        url = existing_database(env)
    except ValueError as problem:  # ConfigError is one
        print(f"audit: {problem}", file=sys.stderr)
        return 2
    from bot.store.audit_log import Audit, to_csv, to_json
    from bot.store.db import open_database

    try:
        db = open_database(url)
    except ConfigError as problem:  # names DATABASE_URL and the cause
        print(f"audit: {problem}", file=sys.stderr)
        return 2
    try:
        events = Audit(db).since(time.time() - since)
    except Exception as problem:  # the connection dropped mid-way, say: one line, no traceback
        first = (str(problem).strip() or type(problem).__name__).splitlines()[0][:300]
        print(f"audit: DATABASE_URL: reading the audit trail failed ({first})", file=sys.stderr)
        return 2
    finally:
        db.close()
    if args.run:
        events = [e for e in events if e.thread_id.startswith(args.run)]
        if not events:
            print(
                f"audit: no run {args.run!r} has events in the last {args.since} "
                "(check the id, or go further back with --since)",
                file=sys.stderr,
            )
            return 1
    sys.stdout.write(to_csv(events) if args.format == "csv" else to_json(events))
    return 0


def existing_database(env: Mapping[str, str]) -> str:
    """``DATABASE_URL``, refusing (with :class:`ConfigError`) a SQLite file that is not there:
    an export must never leave an empty database behind. Read as the bot reads it: after
    langgraph.json's ``env`` file, which may hold it."""
    env = dict(env)
    apply_config_env(env)
    url = database_url(env)
    path = url.removeprefix("sqlite:///") if url.startswith("sqlite:///") else None
    if path is not None and not Path(path).is_file():
        if not env.get("DATABASE_URL", "").strip():
            raise ConfigError(
                f"DATABASE_URL is not set, and the bot's default database ({path}) is not here: "
                "set DATABASE_URL to the bot's database (postgresql://… or sqlite:///path)"
            )
        raise ConfigError(f"DATABASE_URL: there is no database at {path}")
    return url
