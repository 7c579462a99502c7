"""Policy files a new user gets wrong, and what the bot and ``try`` both say about each.

Each case was silent before: the rule it holds was dropped and the bot started. Every message
names the variable, the file, the section and the key, and the name that was meant. They are
written against the shipped ``langgraph.json`` (draft, action, two_person).
"""

from __future__ import annotations

from pathlib import Path

import pytest

# (id, policy file text, the message after "POLICY_FILE: <file>: ")
CASES = [
    (
        "misspelt-action",
        "actions:\n  send_emial: {quorum: 2}\n",
        "actions.send_emial: no registered graph has an action or tool called send_emial; "
        "did you mean send_email? (known: call_webhook, check_url, post_message, send_email)",
    ),
    (
        "misspelt-section",
        "default:\n  approvers: [U0LEADS]\n",
        "default: unknown section; did you mean defaults? (known: defaults, graphs, actions)",
    ),
    (
        "misspelt-button",
        "graphs:\n  draft:\n    resume: {aprove: ok, reject: 'no'}\n",
        "graphs.draft.resume.aprove: unknown button; did you mean approve? (known: approve, "
        "edit, respond, reject, ignore, answer, expire, each)",
    ),
    (
        "misspelt-routing-key",
        "actions:\n  send_email:\n    chanel: C0FIN\n",
        "actions.send_email.chanel: unknown key; did you mean channel? (known: approvers, "
        "allow_self_approval, quorum, rejections, stages, distinct, remind_after, expire_after, "
        "expire_as, escalation, remember, remember_match, channel, deliver)",
    ),
    (
        "channel-name-for-id",
        "actions:\n  send_email:\n    channel: finance\n",
        "actions.send_email.channel must be a Slack channel id like C0123ABCD; 'finance' is not "
        "one (click the channel's name: the id is at the bottom of its About tab)",
    ),
    (
        "unknown-delivery",
        "graphs:\n  draft:\n    stages:\n      - {approvers: [U0A], deliver: email}\n",
        "graphs.draft.stages[0].deliver must be channel or dm, or a list of them such as "
        "[channel, dm]",
    ),
    (
        "edit-path-naming-nothing",
        "graphs:\n  action:\n    edit: parameters.\n",
        "graphs.action.edit: 'parameters.' names nothing (an empty or blank key between dots); "
        "write a dotted path of keys in the interrupt's value, such as "
        "proposed_action.parameters",
    ),
    (
        "blank-approver",
        "defaults:\n  approvers: [U0LEADS]\nactions:\n  send_email:\n    approvers: ['']\n",
        "actions.send_email.approvers: an empty entry names nobody; remove it (an empty list [] "
        "means only the requester decides)",
    ),
    (
        "approvers-naming-nobody",
        "defaults:\n  approvers: [U0LEADS]\nactions:\n  send_email:\n    approvers: ','\n",
        "actions.send_email.approvers: names nobody; write [] if only the requester is to decide",
    ),
    (
        "expiry-at-once",
        "defaults:\n  expire_after: 0\n  expire_as: approve\n",
        "defaults.expire_after: 0 would fall due as soon as the card is posted; write off for none",
    ),
    (
        "quorum-over-inherited-stages",
        "defaults:\n  stages:\n    - {name: Editor, approvers: [U0EDITOR]}\n"
        "    - {name: Legal, approvers: [U0COUNSEL]}\nactions:\n  send_email:\n    quorum: 1\n",
        "actions.send_email: sets quorum or rejections but not approvers, which would replace the "
        "stages it inherits (Editor, Legal) with one stage of the defaults' approvers: set "
        "approvers (or stages) here too",
    ),
]

BAD_POLICIES = [pytest.param(text, said, id=case) for case, text, said in CASES]


def policy_file(folder: Path, text: str) -> Path:
    path = folder / "policy.yaml"
    path.write_text(text)
    return path


def refusal(path: Path, said: str) -> str:
    return f"POLICY_FILE: {path}: {said}"
