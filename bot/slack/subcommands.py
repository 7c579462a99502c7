"""The ``/agent`` subcommands that look after runs: ``pending``, ``status``, ``cancel`` and
``audit``. Each answers with the text to show the person who typed it,
about the runs :mod:`bot.core.access` lets that person see; any other run is "not found"."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.agents.traces import TraceLinks
from bot.core.access import Access
from bot.core.rules import Rules
from bot.core.run_control import RunControl
from bot.core.tally import SignOffTally
from bot.domain.models import Run
from bot.slack.blocks import runs
from bot.slack.blocks.deciders import who_may
from bot.slack.blocks.outcomes import cancel_sentence
from bot.slack.blocks.rules import revoke_sentence, rules_text
from bot.store.audit_log import Audit
from bot.store.repository import Store

_PREFIX = re.compile(r"[0-9a-f]{4,32}")


@dataclass
class Operations:
    store: Store
    control: RunControl  # cancel and retry
    audit: Audit
    access: Access
    tally: SignOffTally
    links: TraceLinks
    remembered: Rules | None = None  # remembered approvals (bot.core.rules), where allowed

    def find(self, text: str, user: str, command: str = "status") -> Run | str:
        """The run a person named by its id or the start of it, if they may see it; otherwise
        what to say (``command``: the subcommand they typed, for its example). A run they may
        not see gets the answer a run that does not exist gets."""
        prefix = text.strip().strip("`").lower()
        if not prefix:
            return (
                f"Which run? Give its id, as I print it: for example `/agent {command} 1a2b3c4d`."
            )
        if not _PREFIX.fullmatch(prefix):
            return f"`{prefix[:40]}` isn't a run id; run ids look like `1a2b3c4d`."
        found = self.access.find(prefix, user)
        if found.ambiguous:
            return f"More than one run starts with `{prefix}`; give more of its id."
        if found.run is None:
            return not_found(prefix)
        return found.run

    def pending(self, user: str) -> str:
        tally = self.tally
        mine = [a for a in self.access.pending(user) if tally.refusal(a, user) is None]
        return runs.pending_text(mine, self.store.clock())

    def status(self, text: str, user: str) -> str:
        run = self.find(text, user)
        if isinstance(run, str):
            return run
        approvals = self.store.run_approvals(run.thread_id)
        waits_for = {
            a.id: who_may(self.tally.stage_of(a)[1], a.requester) for a in approvals if a.pending
        }
        trace = self.links.url(run.trace_id)
        events = self.audit.for_run(run.thread_id)
        return runs.status_text(run, approvals, waits_for, events, trace)

    def audit_of(self, text: str, user: str) -> str:
        run = self.find(text, user, "audit")
        if isinstance(run, str):
            return run
        return runs.audit_text(run, self.audit.for_run(run.thread_id))

    def cancel(self, text: str, user: str) -> str:
        """Cancel a run (:meth:`bot.core.run_control.RunControl.cancel`), for the people who may."""
        run = self.find(text, user, "cancel")
        if isinstance(run, str):
            return run
        if not self.access.may_manage(run, user):  # the same people today, asked apart on purpose
            return not_found(text.strip().strip("`").lower())
        return cancel_sentence(self.control.cancel(run, user))

    def rules(self, text: str, user: str) -> str:
        """``/agent rules``: the remembered approvals in force this person may see;
        ``/agent rules revoke 12``: revoke one (its maker or an admin, bot.core.rules)."""
        service = self.remembered
        word, _, rest = text.strip().partition(" ")
        if service is None:
            return NO_RULES
        if not word:
            return rules_text(service.visible(user))
        number = rest.strip().strip("`").lstrip("#")
        if word.lower() != "revoke" or not number.isdigit() or len(number) > 12:
            return RULES_USAGE
        return revoke_sentence(service.revoke(int(number), user))


NO_RULES = (
    "No approvals are remembered here: the policy file offers none (`remember:` under a "
    "graph or an action)."
)
RULES_USAGE = (
    "Use `/agent rules` to list remembered approvals, `/agent rules revoke 12` to stop one."
)


def not_found(prefix: str) -> str:
    return f"I can't find a run `{prefix}`."
