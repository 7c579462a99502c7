"""The terminal side of ``python -m bot try``: a pause shown as its card would show it, and the
decision asked for at the prompt, with the choices, forms and checks the card's buttons and
modals have. Rendering is pure; :class:`Terminal` does the asking."""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass
from typing import Any, TextIO

from bot.agents import forms
from bot.domain.models import Decision
from bot.domain.review import FormField, Review

# Menu entries: (key, name, label); a batch adds approve-all / review-each / reject-all.
KEYS = {"approve": "a", "edit": "e", "reject": "r", "respond": "s", "ignore": "i", "answer": "n"}
LABELS = {"approve": "Approve", "edit": "Edit", "reject": "Reject", "respond": "Respond"}
LABELS |= {"ignore": "Ignore", "answer": "Answer", "each": "Review each"}
Option = tuple[str, str, str]


class NoDecision(Exception):
    """The terminal closed (EOF) before a decision was made."""


# rendering (pure) -------------------------------------------------------------------------
def options(review: Review) -> list[Option]:
    """What the card's buttons offer, as menu entries."""
    if len(review.proposals) == 1:
        names = [c for c in review.proposals[0].choices if c in KEYS]
        entries = [(KEYS[n], n, LABELS[n]) for n in names]
    else:
        common = review.choices()
        whole = "approve" in common and review.approvable_at_once()
        entries = [("a", "approve", "Approve all")] if whole else []
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
