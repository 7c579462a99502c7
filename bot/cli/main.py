"""The command line: ``python -m bot [serve | try | audit | prune | help]``.

No word at all means ``serve``, so ``python -m bot`` (the Procfile's command) still runs the bot.
Asking for help (``-h``, ``--help``, ``help``) or mistyping a command prints the usage and exits
*before* anything is read from the environment: with production settings set, asking for help
must never bind a port, open the database or start a second scheduler. Each subcommand's
``--help`` works with no settings at all.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from bot.cli.parsers import COMMANDS, build_parser
from bot.core.spelling import suggestion


def main(argv: Sequence[str] | None, serve: Callable[[], int]) -> int:
    """Route ``argv`` (the words after ``python -m bot``); ``serve`` runs the bot itself."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        return serve()
    first = args[0]
    if not first.startswith("-") and first not in COMMANDS:
        parser = build_parser()
        close = suggestion(first, COMMANDS)
        hint = f"; did you mean `{close}`?" if close else ""
        parser.print_usage(sys.stderr)
        print(f"python -m bot: unknown command {first!r}{hint}", file=sys.stderr)
        return 2
    if first == "try":
        from bot.cli.try_graph import main as try_graph

        return try_graph(args[1:])
    if first == "audit":
        from bot.cli.audit_export import main as export_audit

        return export_audit(args[1:])
    if first == "prune":
        from bot.cli.prune import main as prune

        return prune(args[1:])
    if first == "help" and args[1:2] and args[1] in COMMANDS and args[1] != "help":
        return main([args[1], "--help"], serve)  # `help try` is `try --help`
    parser = build_parser()
    if first == "help":
        parser.print_help()
        return 0
    if first.startswith("-") and first not in ("-h", "--help", "--version"):
        return _no_options(parser, args)  # `python -m bot --port 8080`
    try:
        parsed, extra = parser.parse_known_args(args)  # -h, --version and bad options exit here
    except SystemExit as stop:
        return int(stop.code or 0)
    if extra:  # `python -m bot serve --port 8080`
        return _no_options(parser, extra)
    if parsed.command is None:  # e.g. only options that argparse accepted
        parser.print_help()
        return 0
    return serve()


def _no_options(parser: argparse.ArgumentParser, extra: Sequence[str]) -> int:
    """``serve`` takes its settings from the environment: say so, rather than argparse's
    "invalid choice" or "unrecognized arguments", which name no way to set the port."""
    parser.print_usage(sys.stderr)
    print(
        f"python -m bot serve: takes no options or arguments ({' '.join(extra)}); its "
        "settings come from the environment, e.g. PORT=8080 python -m bot "
        "(README: Environment variables)",
        file=sys.stderr,
    )
    return 2
