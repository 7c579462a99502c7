"""``python -m bot try <graph> "<request>"``: run a registered graph in the terminal, no Slack.

Each pause is shown as its card would show it and decided at the prompt; the decision goes back
through the same adapters, settings and resume values as the engine's (skipped breakpoints, and
a decision at a ``before`` breakpoint carried over to that node's own interrupts). Only
LANGGRAPH_CONFIG, POLICY_FILE (checked as the bot checks it, with APPROVERS and
ALLOW_SELF_APPROVAL), OPENAI_* and WEBHOOK_ALLOWLIST (which sets ``check_url``'s risk) are read;
runs are checkpointed in memory, and the shipped actions print what they would do: nothing is
posted, mailed or called (a graph's own tools run as they are written).
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import cache
from typing import Any, TextIO

from langgraph.checkpoint.memory import MemorySaver

from bot.agents import adapters
from bot.agents.driver import Driver
from bot.agents.langgraph_json import DEFAULT_CONFIG, apply_config_env
from bot.agents.no_model import NoModel
from bot.agents.registry import load_registry
from bot.agents.runner import InProcessRunner, ResumeRefused
from bot.agents.toolkit import unreachable_model
from bot.cli.parsers import try_parser
from bot.cli.terminal import NoDecision, Terminal, render_review
from bot.config import ConfigError, http_url, policy_file_setting, secret, webhook_allowlist
from bot.core.spelling import suggestion
from bot.domain.review import Pending, Stop
from bot.policy.file import Defaults, load_checked
from graphs.actions import ActionRegistry, ActionSpec, default_registry
from graphs.toolbox import Toolbox

USAGE = 'Usage: python -m bot try <graph> "<request>"'
CHANNEL = "#try"  # where the run "was asked" (graphs that post reply there)


class MemoryLedger:
    """:class:`bot.core.ledger.Ledger`'s contract in memory: each key's effect runs at most once."""

    def __init__(self) -> None:
        self.results: dict[str, str] = {}

    def once(self, key: str, effect: Callable[[], str]) -> str:
        if key not in self.results:
            try:
                self.results[key] = effect()
            except Exception as exc:
                self.results[key] = f"Failed: {exc}"
        return self.results[key]


def toolbox_factory(env: Mapping[str, str], out: TextIO) -> Callable[[], Toolbox]:
    """The shipped graphs' Toolbox: the configured model, and actions whose Slack post prints."""

    def post(channel: str, text: str) -> str:
        out.write(f"(would post to {channel}: {text})\n")
        return f"Would have posted to {channel} (try mode: nothing was sent)"

    @cache
    def build() -> Toolbox:
        from bot.agents.toolkit import model_client

        key = secret(env, "OPENAI_API_KEY")
        try:
            timeout = float(env.get("OPENAI_TIMEOUT", "").strip() or 60)
        except ValueError:
            raise ConfigError(
                f"OPENAI_TIMEOUT: {env['OPENAI_TIMEOUT']!r} is not a number"
            ) from None
        # Without a key only a graph that calls the model fails, when it does (bot.agents.no_model).
        llm: Any = NoModel()
        if key:
            llm = model_client(
                env.get("OPENAI_MODEL", "").strip() or "gpt-4o-mini",
                key,
                http_url(env, "OPENAI_BASE_URL"),
                timeout,
            )
        # The allowlist decides check_url's risk, so the same sign-off applies as in the bot.
        allowlist = webhook_allowlist(env)  # the same parsing, and errors, as the bot's
        actions = default_registry(post, None, "agent@localhost", allowlist)
        return Toolbox(llm, dry_run(actions, out), MemoryLedger())

    return build


def dry_run(actions: ActionRegistry, out: TextIO) -> ActionRegistry:
    """The shipped actions, each printing what it would do instead of doing it: trying a graph
    sends no email and calls no URL, whatever SMTP_URL or WEBHOOK_* the shell holds."""

    def printing(spec: ActionSpec) -> ActionSpec:
        if spec.name == "post_message":  # already prints (toolbox_factory's post)
            return spec

        def run(params: Mapping[str, str]) -> str:
            shown = ", ".join(f"{name}={value!r}" for name, value in params.items())
            out.write(f"(would {spec.name}: {shown})\n")
            return f"Would have run {spec.name} (try mode: nothing was sent)"

        return replace(spec, run=run)

    return ActionRegistry([printing(spec) for spec in actions.specs.values()])


# running ------------------------------------------------------------------------------------
def run(driver: Driver, graph: str, request: str, by: str, term: Terminal) -> str:
    """Run until the graph finishes, asking at every pause, exactly as the bot answers in
    Slack (the same :class:`~bot.agents.driver.Driver`); the report."""
    thread = uuid.uuid4().hex
    state = driver.start(graph, thread, request, by, CHANNEL)
    while not state.finished:
        if not state.pending:
            raise RuntimeError("the run stopped without finishing and waits for nobody")
        pending = state.pending[0]
        review = adapters.describe(pending, driver.context(graph))
        term.say(render_review(review, request, len(state.pending)))
        several = _several(driver, graph, pending)
        if several:
            raise NeedsSeveral(several)
        try:
            result = driver.answer(graph, thread, pending, review, term.decide(review, by))
        except ResumeRefused as refused:
            if pending.id not in refused.interrupts:
                raise
            # As the bot does: the thread still waits on this pause.
            again = "The run did not go past this step; decide again."
            term.say(f"\nThe graph refused that answer: {refused}\n{again}\n")
            continue
        if isinstance(result, Stop):
            return result.report
        state = result
    return driver.report(graph, state)


class NeedsSeveral(Exception):
    """The policy file asks more than one person to sign a pause: not for one person at a
    terminal."""


def _several(driver: Driver, graph: str, pending: Pending) -> str | None:
    """Why the policy's sign-off of ``pending`` needs more than one person, if it does."""
    if driver.signoffs is None:
        return None
    sign_off = driver.signoffs.for_request(graph, pending.value, pending.node)
    if sign_off.counted:
        return "it needs more than one approval (quorum or stages)"
    if sign_off.total > 1:
        return f"it is stage {sign_off.first + 1} of {sign_off.total}, each signed by someone else"
    if sign_off.distinct:
        return "each of the run's requests is signed by someone else (distinct)"
    return None


def main(
    argv: list[str],
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    env: Mapping[str, str] = os.environ,
) -> int:
    """``argv``: the arguments after ``try``. 0 done, 1 stopped or failed, 2 usage/config."""
    term = Terminal(stdin, stdout)
    parser = try_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # argparse has printed what is wrong
        return int(stop.code or 0)
    config = env.get("LANGGRAPH_CONFIG", "").strip() or DEFAULT_CONFIG
    try:
        # langgraph.json's `env` file, as the bot reads it: the environment wins over it.
        if env is os.environ:
            apply_config_env(os.environ)  # graphs' own code reads os.environ
        else:
            env = dict(env)
            apply_config_env(env)
        if not args.help:  # a placeholder key is named here, not by a graph's load
            secret(env, "OPENAI_API_KEY")
    except ConfigError as problem:
        term.say(f"Configuration error: {problem}")
        return 2
    tools = toolbox_factory(env, stdout)
    try:
        # The bot's own loader (bot.wiring), so a file the bot would refuse is refused here too.
        policy, registry = load_checked(
            policy_file_setting(env),
            Defaults.from_env(env),
            lambda graph_settings: load_registry(config, MemorySaver(), graph_settings, tools),
        )
    except ConfigError as problem:
        if args.help:  # help needs no settings: say why the graphs cannot be listed
            term.say(f"{parser.format_help()}\nRegistered graphs: cannot list them: {problem}")
            return 0
        term.say(f"Configuration error: {problem}")
        return 2
    listing = "\n".join(f"  {n}  {g.description}".rstrip() for n, g in registry.items())
    if args.help:
        term.say(f"{parser.format_help()}\nRegistered graphs:\n{listing}")
        return 0
    words = " ".join(args.request).strip()
    if args.graph is None or args.graph not in registry or not words:
        unknown = args.graph is not None and args.graph not in registry
        usage = f"Unknown graph {args.graph!r}." if unknown else USAGE
        close = suggestion(args.graph, list(registry)) if unknown else None
        usage += f" Did you mean `{close}`?" if close else ""
        term.say(f"{usage}\nRegistered graphs:\n{listing}")
        return 2
    graph, request = registry[args.graph], words
    by = env.get("USER", "").strip() or "you"
    driver = Driver(InProcessRunner({graph.name: graph.graph}), registry, policy.signoffs)
    term.say(f"Running {graph.name}: {request}")
    try:
        report = run(driver, graph.name, request, by, term)
    except (NoDecision, KeyboardInterrupt):
        term.say("\nStopped: no decision.")
        return 1
    except NeedsSeveral as why:
        term.say(
            f"\nStopped: the policy file asks more than one person to sign this pause ({why}),"
            " and try decides as one person: nothing was decided or run. Try it in Slack, or"
            " with a policy file that gives this graph one approver."
        )
        return 1
    except ConfigError as problem:  # a setting only the run needs (the model's key)
        term.say(f"\nConfiguration error: {problem}")
        return 2
    except Exception as exc:
        fix = unreachable_model(exc, env.get("OPENAI_BASE_URL"))
        term.say(f"\nThe run failed: {type(exc).__name__}: {exc}{fix}")
        return 1
    term.say(f"\n== Result ==\n{report}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
