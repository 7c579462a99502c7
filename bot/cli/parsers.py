"""The command line's words and options: one parser per subcommand, and the top-level one
listing them all. Building a parser reads no setting and imports no subcommand."""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version

COMMANDS = ("serve", "try", "audit", "prune", "help")
SERVE_HELP = "run the bot (the default): HTTP on PORT, or Socket Mode when SLACK_APP_TOKEN is set"


TRY_DESCRIPTION = (
    "Run a registered graph in the terminal: each pause is shown as its card would show it and "
    "decided at the prompt, through the same adapters and settings as the bot. No Slack and no "
    "database are needed (runs are kept in memory); reads LANGGRAPH_CONFIG, POLICY_FILE, "
    "APPROVERS, ALLOW_SELF_APPROVAL, WEBHOOK_ALLOWLIST and OPENAI_* (only a graph that calls the "
    "model needs OPENAI_API_KEY). The shipped actions print what they would do: nothing is "
    "posted, mailed or called. Every pause is decided by you alone (as $USER), so a request "
    "that needs two people's approval is refused here. "
    "Exit code: 0 finished, 1 stopped or failed, 2 usage or configuration error."
)
AUDIT_DESCRIPTION = (
    "Export the audit trail of every run, read from DATABASE_URL, else ./data/approvals.db (the "
    "bot's default; no Slack or model settings are needed). Exit code: 0 exported, 1 no such "
    "run, 2 usage error or database unreachable."
)
PRUNE_DESCRIPTION = (
    "Delete what ended long ago, from DATABASE_URL, else ./data/approvals.db (the bot's "
    "default): runs that are done, failed or cancelled and were last touched before "
    "--older-than, with their cards, votes, jobs, clicks, effect ledger entries and LangGraph "
    "checkpoints; finished clicks and scheduler jobs on the same cutoff; audit events only with "
    "--audit-older-than. Runs still running or waiting are never touched. Run it from a "
    "scheduled job. Exit code: 0 done, 2 usage error or database unreachable."
)


def package_version() -> str:
    try:
        return version("agent-approvals")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def add_prune_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "--older-than", required=True, help="ended and untouched for this long: 30d, 90d, 12h"
    )
    parser.add_argument(
        "--audit-older-than", help="also delete audit events older than this (default: keep all)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="count what would go, delete nothing"
    )
    return parser


def prune_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot prune", description=PRUNE_DESCRIPTION)
    return add_prune_arguments(parser)


def add_try_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument(
        "-h", "--help", action="store_true", help="show this help and the registered graphs"
    )
    parser.add_argument("graph", nargs="?", help="a graph registered in LANGGRAPH_CONFIG")
    parser.add_argument(
        "request", nargs=argparse.REMAINDER, help="what you ask it, as after /agent <graph>"
    )
    return parser


def add_audit_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--since", default="7d", help="how far back: 90s, 15m, 4h, 7d (7d)")
    parser.add_argument("--format", choices=("csv", "json"), default="csv", help="(csv)")
    parser.add_argument("--run", help="only this run: its id, or the start the bot prints")
    return parser


def try_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot try", description=TRY_DESCRIPTION, add_help=False
    )
    return add_try_arguments(parser)


def audit_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot audit", description=AUDIT_DESCRIPTION)
    return add_audit_arguments(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="A human approval gate for LangGraph agents, in Slack.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands.add_parser(
        "serve", help=SERVE_HELP, description=f"{SERVE_HELP[0].upper()}{SERVE_HELP[1:]}."
    )
    add_try_arguments(
        commands.add_parser(
            "try",
            help="run a registered graph in the terminal and decide its pauses (no Slack needed)",
            description=TRY_DESCRIPTION,
            add_help=False,
        )
    )
    add_audit_arguments(
        commands.add_parser(
            "audit",
            help="export the audit trail as CSV or JSON Lines (from the bot's database)",
            description=AUDIT_DESCRIPTION,
        )
    )
    add_prune_arguments(
        commands.add_parser(
            "prune",
            help="delete runs, clicks and jobs that ended long ago (and old audit events)",
            description=PRUNE_DESCRIPTION,
        )
    )
    commands.add_parser("help", help="show this help")
    usages = "".join(
        "  " + sub.format_usage().removeprefix("usage: ")
        for name, sub in commands.choices.items()
        if name != "help"
    )
    parser.epilog = (
        f"usage of each command:\n{usages}\n"
        "With no command, `serve` runs. `python -m bot COMMAND --help` explains a command.\n"
        "Settings come from the environment (README: Environment variables)."
    )
    return parser
