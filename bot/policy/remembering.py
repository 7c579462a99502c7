"""The file's ``remember`` and ``remember_match`` keys, checked against the sign-off they would
shorten: a remembered approval stands in for one person's Approve, so a section whose requests
need more than one person (``quorum`` over 1, ``rejections`` over 1, ``stages``, ``distinct``,
its own or inherited from ``defaults``) may not have one. Start-up refuses it, naming the file,
the section and the key::

    POLICY_FILE: policy.yaml: actions.wire_transfer.remember: not with quorum: 2 (a remembered
    approval stands in for one person's Approve; ...)
"""

from __future__ import annotations

from bot.core.remember import Remember, Remembering
from bot.domain import signoff
from bot.policy.errors import problem
from bot.policy.model import PolicyModel, Section


def remembering_from(
    model: PolicyModel, path: str | None, signoffs: signoff.SignOffs
) -> Remembering:
    """The ``remember`` of each graph and action that has one, once its sign-off allows it."""
    graphs: dict[str, Remember] = {}
    actions: dict[str, Remember] = {}
    for kind, bodies, sections, into in (
        ("graphs", model.graphs, signoffs.graphs, graphs),
        ("actions", model.actions, signoffs.actions, actions),
    ):
        for name, body in bodies.items():
            if body.remember is None:
                continue
            section = sections[name]
            if section.signs:
                why = _conflict(body, model.defaults, section)
            else:
                why = _signed_as_a_graph(model, signoffs)
            if why is not None:
                raise problem(path, f"{kind}.{name}.remember", why)
            into[name] = Remember(body.remember, body.remember_match or ())
    return Remembering(graphs, actions, frozenset(model.actions))


def unoffered(model: PolicyModel, signoffs: signoff.SignOffs) -> list[str]:
    """What the file asks to remember that is never offered, though nothing refuses it: an
    action's ``remember`` in the runs of a graph whose section says ``distinct`` (nobody signs
    two of its runs' requests, so no remembered approval signs one). Said in the log, key by
    key: the action may be gated in other graphs' runs too, where it is offered."""
    distinct = [f"graphs.{n}" for n, section in signoffs.graphs.items() if section.distinct]
    if signoffs.default.distinct:
        distinct.insert(0, "defaults")
    if not distinct:
        return []
    return [
        f"actions.{name}.remember: not offered in the runs of {', '.join(distinct)} "
        "(distinct: true: nobody signs two requests of one of its runs, and a remembered "
        "approval would sign one)"
        for name, body in model.actions.items()
        if body.remember is not None
    ]


def _signed_as_a_graph(model: PolicyModel, signoffs: signoff.SignOffs) -> str | None:
    """An action's section that says nothing of who signs is signed as the graph its request
    comes from: its ``remember`` must suit every graph's (and the defaults')."""
    places = [("defaults", model.defaults, signoffs.default)]
    places += [(f"graphs.{n}", model.graphs[n], s) for n, s in signoffs.graphs.items()]
    for where, body, section in places:
        why = _conflict(body, model.defaults, section)
        if why is not None:
            return (
                f"this section says nothing of who signs, so its requests are signed as their"
                f" graph's, and {where} is signed {why.removeprefix('not ')}; write approvers"
                " here to remember its approvals"
            )
    return None


def _conflict(body: Section, defaults: Section, section: signoff.Section) -> str | None:
    """Why this section's requests cannot be remembered, if they cannot."""
    base = section.base
    found: tuple[str, str] | None = None
    if section.stages:
        found = ("stages", "stages")
    elif base.quorum > 1:
        found = ("quorum", f"quorum: {base.quorum}")
    elif base.rejections > 1:
        found = ("rejections", f"rejections: {base.rejections}")
    elif section.distinct:
        found = ("distinct", "distinct: true")
    if found is None:
        return None
    key, text = found
    inherited = "" if body.sets(key) or not defaults.sets(key) else " (inherited from defaults)"
    return (
        f"not with {text}{inherited}: a remembered approval stands in for one person's "
        "Approve, and this section's requests need more than one person"
    )
