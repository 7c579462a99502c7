"""``python -m bot prune``: delete what ended long ago (:mod:`bot.store.retention`), from a
scheduled
job. Like ``audit`` it reads only ``DATABASE_URL``, never creates a database, and says in one
line (exit code 2) when it cannot reach one.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping

from bot.cli.audit_export import existing_database
from bot.cli.parsers import prune_parser
from bot.config import ConfigError
from bot.config.durations import parse_duration


def main(argv: list[str], env: Mapping[str, str] = os.environ) -> int:
    """``python -m bot prune --older-than 90d [--audit-older-than 365d] [--dry-run]``."""
    try:
        args = prune_parser().parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        keep = parse_duration(args.older_than)
        keep_audit = parse_duration(args.audit_older_than) if args.audit_older_than else None
        url = existing_database(env)
    except ValueError as problem:
        print(f"prune: {problem}", file=sys.stderr)
        return 2
    from bot.store.db import open_database
    from bot.store.retention import prune as delete_old

    try:
        db = open_database(url)
    except ConfigError as problem:
        print(f"prune: {problem}", file=sys.stderr)
        return 2
    now = time.time()
    try:
        counts = delete_old(
            db, now - keep, now - keep_audit if keep_audit else None, dry_run=args.dry_run
        )
    except Exception as problem:
        first = (str(problem).strip() or type(problem).__name__).splitlines()[0][:300]
        print(f"prune: DATABASE_URL: nothing was deleted ({first})", file=sys.stderr)
        return 2
    finally:
        db.close()
    verb = "would delete" if args.dry_run else "deleted"
    listed = ", ".join(f"{table} {n}" for table, n in sorted(counts.items()) if n) or "nothing"
    print(f"prune: {verb}: {listed}")
    return 0
