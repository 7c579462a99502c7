"""``python -m bot audit``: export the audit trail as CSV or JSON Lines.

Reads ``DATABASE_URL`` (and nothing else: no Slack or model variables are needed)::

    python -m bot audit --since 7d --format csv > audit.csv
    python -m bot audit --since 24h --format json --run 3f9a1c2e
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from bot.audit import Audit, to_csv, to_json
from bot.config import ConfigError, database_url
from bot.db import open_database
from bot.durations import parse_duration


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bot audit", description="Export the audit trail of every run."
    )
    parser.add_argument("--since", default="7d", help="how far back: 90s, 15m, 4h, 7d (7d)")
    parser.add_argument("--format", choices=("csv", "json"), default="csv", help="(csv)")
    parser.add_argument("--run", help="only this run: its id, or the start the bot prints")
    args = parser.parse_args(argv)
    try:
        since = parse_duration(args.since)
        url = database_url(os.environ)
    except (ValueError, ConfigError) as problem:
        print(f"audit: {problem}", file=sys.stderr)
        return 2
    db = open_database(url)
    try:
        events = Audit(db).since(time.time() - since)
    finally:
        db.close()
    if args.run:
        events = [e for e in events if e.thread_id.startswith(args.run)]
    sys.stdout.write(to_csv(events) if args.format == "csv" else to_json(events))
    return 0
