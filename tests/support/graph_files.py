"""A bot running graphs written by the test itself: one source file, its langgraph.json and a
policy file in the test's own folder."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def graph_bot(
    bot_in_process: Any,
    tmp_path: Path,
    source: str,
    graphs: dict[str, str],
    policy: str,
    approvers: str | None = None,
    **env: str,
) -> Any:
    """A bot whose graphs are ``source`` (one file; ``graphs``: name -> its factory there, or a
    ``path:factory`` of its own) with ``policy``; ``approvers``: APPROVERS, when set; ``env``:
    more settings."""
    folder = tmp_path / "graphs_here"
    folder.mkdir()
    (folder / "graph_here.py").write_text(source)
    entries = {n: f if ":" in f else f"./graph_here.py:{f}" for n, f in graphs.items()}
    (folder / "langgraph.json").write_text(json.dumps({"dependencies": ["."], "graphs": entries}))
    (folder / "policy.yaml").write_text(policy)
    if approvers is not None:
        env["APPROVERS"] = approvers
    return bot_in_process(
        LANGGRAPH_CONFIG=str(folder / "langgraph.json"),
        POLICY_FILE=str(folder / "policy.yaml"),
        **env,
    )


# What most graphs written by a test share, to be put around their own lines (no braces in
# either, so a source kept for ``str.format`` may include them): the state, and a graph of one
# node, ``ask``, from start to end.
STATE = """

class S(TypedDict, total=False):
    request: str
    result: str
"""
ONE_STEP = """

def build():
    g = StateGraph(S)
    g.add_node("ask", ask)
    g.add_edge(START, "ask")
    g.add_edge("ask", END)
    return g
"""
