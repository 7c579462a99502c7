"""``--dist loadgroup`` kept working: tests marked ``xdist_group(name)`` run on one worker.

pytest-xdist marks a grouped test by adding ``@name`` to its node id on the worker
(``item._nodeid = ...``), and its scheduler sends every test whose id ends so to one worker.
Since pytest 9.2 a node keeps its id in ``item._id`` (a ``NodeId``), so that assignment changes
nothing: each grouped test went to whichever worker was free, and each worker that got one of
the LangGraph Server scenarios started a ``langgraph dev`` of its own (about 25 s of CPU each,
on a machine of two cores). This hook runs after xdist's and gives the id its suffix where
xdist's did not take; where it did (an older pytest, a fixed xdist) it leaves the id alone.
"""

from __future__ import annotations

import pytest

MARK = "xdist_group"


def group_of(item: pytest.Item) -> str | None:
    """The group xdist would name: the test's ``xdist_group`` names, sorted and joined."""
    names = {
        str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
        for mark in item.iter_markers(MARK)
    }
    return "_".join(sorted(names)) or None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not getattr(config.option, "loadgroup", False):  # set on xdist's workers only
        return
    for item in items:
        group = group_of(item)
        if group is None or item.nodeid.endswith(f"@{group}"):
            continue
        node_id = type(item._id)  # pytest >= 9.2: the structured id nodeid is made from
        item._id = node_id.parse(f"{item.nodeid}@{group}")
