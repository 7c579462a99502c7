"""``python -m bot try <graph> "<request>"``: run a registered graph in the terminal, no Slack.

Each pause is shown as its card would show it and decided at the prompt; the decision goes back
through the same adapters, settings and resume values as the engine's (skipped breakpoints, and
a decision at a ``before`` breakpoint carried over to that node's own interrupts). Only
LANGGRAPH_CONFIG, POLICY_FILE (checked as the bot checks it, with APPROVERS and
ALLOW_SELF_APPROVAL) and OPENAI_* are read; runs are checkpointed in memory, and the
``post_message`` action prints what it would post.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any, TextIO

from langgraph.checkpoint.memory import MemorySaver

from bot.agents import adapters, forms
from bot.agents.driver import Driver
from bot.agents.langgraph_json import DEFAULT_CONFIG, apply_config_env
from bot.agents.no_model import NoModel
from bot.agents.registry import load_registry
from bot.agents.runner import InProcessRunner
from bot.cli.parsers import try_parser
from bot.config import ConfigError, policy_file_setting, webhook_allowlist
from bot.core.models import Decision
from bot.core.review import FormField, Review, Stop
from bot.core.spelling import suggestion
from bot.policy.file import Defaults, load_checked
from graphs.actions import default_registry
from graphs.toolbox import Toolbox

USAGE = 'Usage: python -m bot try <graph> "<request>"'
CHANNEL = "#try"  # where the run "was asked" (graphs that post reply there)
# Menu entries: (key, name, label); a batch adds approve-all / review-each / reject-all.
KEYS = {"approve": "a", "edit": "e", "reject": "r", "respond": "s", "ignore": "i", "answer": "n"}
LABELS = {"approve": "Approve", "edit": "Edit", "reject": "Reject", "respond": "Respond"}
LABELS |= {"ignore": "Ignore", "answer": "Answer", "each": "Review each"}
Option = tuple[str, str, str]


class NoDecision(Exception):
    """The terminal closed (EOF) before a decision was made."""


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
        from langchain_openai import ChatOpenAI
        from pydantic import SecretStr

        key = env.get("OPENAI_API_KEY", "").strip()
        try:
            timeout = float(env.get("OPENAI_TIMEOUT", "").strip() or 60)
        except ValueError:
            raise ConfigError(
                f"OPENAI_TIMEOUT: {env['OPENAI_TIMEOUT']!r} is not a number"
            ) from None
        # Without a key only a graph that calls the model fails, when it does (bot.agents.no_model).
        llm: Any = NoModel()
        if key:
            llm = ChatOpenAI(
                model=env.get("OPENAI_MODEL", "").strip() or "gpt-4o-mini",
                api_key=SecretStr(key),
                base_url=env.get("OPENAI_BASE_URL", "").strip() or None,
                timeout=timeout,
                max_retries=2,
            )
        allowlist = webhook_allowlist(env)  # the same parsing, and errors, as the bot's
        sender = env.get("EMAIL_FROM", "").strip() or "agent@localhost"
        idempotent = webhook_allowlist(env, "WEBHOOK_IDEMPOTENT")
        actions = default_registry(
            post, env.get("SMTP_URL") or None, sender, allowlist, webhook_idempotent=idempotent
        )
        return Toolbox(llm, actions, MemoryLedger())

    return build


# rendering (pure) -------------------------------------------------------------------------
def options(review: Review) -> list[Option]:
    """What the card's buttons offer, as menu entries."""
    if len(review.proposals) == 1:
        names = [c for c in review.proposals[0].choices if c in KEYS]
        entries = [(KEYS[n], n, LABELS[n]) for n in names]
    else:
        common = review.choices()
        entries = [("a", "approve", "Approve all")] if "approve" in common else []
        entries.append(("d", "each", "Review each"))
        entries += [("r", "reject", "Reject all")] if "reject" in common else []
    return entries + [(c.name, c.name, c.label) for c in review.extra]


def menu(entries: list[Option]) -> str:
    return "  ".join(f"[{key}] {label}" for key, _, label in entries)


def pick(entries: list[Option], typed: str) -> str | None:
    """The choice named by a key, a name or a label (any case)."""
    text = typed.strip().lower()
    return next((n for k, n, lb in entries if text in (k.lower(), n.lower(), lb.lower())), None)


def render_review(review: Review, request: str, waiting: int = 1) -> str:
    lines = [f"== {review.title} ==", f"Request: {request}"]
    if waiting > 1:
        lines.append(f"({waiting} pauses are waiting; this is the first)")
    for index, proposal in enumerate(review.proposals, 1):
        number = f"{index}. " if len(review.proposals) > 1 else ""
        risk = f"  [risk: {proposal.risk}]" if proposal.risk else ""
        lines += ["", f"{number}{proposal.title}{risk}"]
        if proposal.description:
            lines.append(textwrap.indent(proposal.description, "  "))
        lines += [textwrap.indent(f"{key}: {value}", "  ") for key, value in proposal.details]
        long = forms.too_long(proposal.form) if "edit" in proposal.choices else []
        if long:
            lines.append(f"  (Slack cannot offer Edit here: {'; '.join(long)})")
    return "\n".join([*lines, "", menu(options(review))])


def field_prompt(field: FormField, current: str) -> str:
    kind = "/".join(field.options) if field.kind == "enum" else field.kind
    kind = "yes/no" if field.kind == "boolean" else kind
    need = ", required" if field.required else ""
    hint = f" - {field.hint}" if field.hint else ""
    more = "; end a line with \\ to go on" if field.kind == "multiline" else ""
    shown = current if "\n" not in current else json.dumps(field.initial, ensure_ascii=False)
    return f"  {field.label} ({kind}{need}{more}){hint}\n  [{shown}] > "


# asking (I/O) -------------------------------------------------------------------------------
@dataclass
class Terminal:
    stdin: TextIO
    stdout: TextIO

    def say(self, text: str = "") -> None:
        self.stdout.write(text + "\n")

    def ask(self, question: str) -> str:
        self.stdout.write(question)
        self.stdout.flush()
        line = self.stdin.readline()
        if not line:
            raise NoDecision
        if not self.stdin.isatty():  # piped answers: echo them, so the transcript reads well
            self.stdout.write(line if line.endswith("\n") else line + "\n")
        return line.rstrip("\r\n")

    def ask_required(self, question: str) -> str:
        while not (answer := self.ask(question).strip()):
            self.say("  ! Please fill this in.")
        return answer

    def choose(self, entries: list[Option]) -> str:
        while (name := pick(entries, self.ask("Your choice: "))) is None:
            self.say(f"  ! Choose one of: {menu(entries)}")
        return name

    def fill(self, fields: tuple[FormField, ...]) -> dict[str, Any]:
        """The form, field by field (Enter keeps a value), until forms.read accepts it."""
        raw = {f.name: forms.initial_text(f) for f in fields}
        todo = fields
        while True:
            for field in todo:
                typed = self.ask(field_prompt(field, raw[field.name]))
                while field.kind == "multiline" and typed.endswith("\\"):
                    typed = typed[:-1] + "\n" + self.ask("  ... ")
                raw[field.name] = typed or raw[field.name]
            values, errors = forms.read(fields, raw)
            if not errors:
                return values
            for problem in errors.values():
                self.say(f"  ! {problem}")
            todo = tuple(f for f in fields if f.name in errors)

    def decide(self, review: Review, by: str) -> Decision:
        entries = options(review)
        while True:
            name = self.choose(entries)
            decision = self.each(review, by) if name == "each" else self.one(review, name, by)
            if decision is not None:
                return decision

    def one(self, review: Review, name: str, by: str) -> Decision | None:
        extra = next((c for c in review.extra if c.name == name), None)
        if extra is not None:
            notes = self.ask_required("Notes: ") if "notes" in extra.asks else None
            reason = self.ask_required("Reason: ") if "reason" in extra.asks else None
            return Decision(name, by, message=notes, reason=reason)
        if name == "reject":
            return Decision(name, by, reason=self.ask("Reason (optional): ").strip() or None)
        if name == "respond":
            return Decision(name, by, message=self.ask_required("Answer to send back: "))
        if name not in ("edit", "answer"):
            return Decision(name, by)
        form = review.proposals[0].form
        if not form:
            self.say("  ! There is nothing to fill in here: approve or reject it.")
            return None
        values = self.fill(form)
        if name == "edit" and [f.name for f in form] == ["text"]:
            return Decision(name, by, text=values.get("text"))
        return Decision(name, by, parameters=values)

    def each(self, review: Review, by: str) -> Decision:
        items = []
        for index, proposal in enumerate(review.proposals, 1):
            names = [c for c in proposal.choices if c in KEYS and c != "answer"]
            entries = [(KEYS[n], n, LABELS[n]) for n in names]
            self.say(f"{index}. {proposal.title}: {menu(entries)}")
            kind = self.choose(entries)
            item: dict[str, Any] = {"type": kind, "message": None}
            if kind == "edit":
                item["values"] = self.fill(proposal.form)
            elif kind == "respond":
                item["message"] = self.ask_required("Answer to send back: ")
            elif kind == "reject":
                item["message"] = self.ask("Message (optional): ").strip() or None
            items.append(item)
        return Decision("each", by, items=items)


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
        result = driver.answer(graph, thread, pending, review, term.decide(review, by))
        if isinstance(result, Stop):
            return result.report
        state = result
    return driver.report(graph, state)


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
    except ConfigError as problem:
        term.say(f"Configuration error: {problem}")
        return 2
    tools = toolbox_factory(env, stdout)
    try:
        # The bot's own loader (bot.wiring), so a file the bot would refuse is refused here too.
        _, registry = load_checked(
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
    driver = Driver(InProcessRunner({graph.name: graph.graph}), registry)
    term.say(f"Running {graph.name}: {request}")
    try:
        report = run(driver, graph.name, request, by, term)
    except (NoDecision, KeyboardInterrupt):
        term.say("\nStopped: no decision.")
        return 1
    except Exception as exc:
        term.say(f"\nThe run failed: {type(exc).__name__}: {exc}")
        return 1
    term.say(f"\n== Result ==\n{report}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
