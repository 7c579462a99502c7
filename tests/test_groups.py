"""``--dist loadgroup`` runs the tests of one ``xdist_group`` on one worker
(tests/support/groups.py): the LangGraph Server scenarios share one ``langgraph dev``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.botproc import ROOT

GROUPED = """
import os
import pytest

pytestmark = pytest.mark.xdist_group("together")

@pytest.mark.parametrize("n", range(6))
def test_grouped(n, request):
    with open("workers.txt", "a") as out:
        out.write(f"{os.environ['PYTEST_XDIST_WORKER']} {request.node.nodeid}\\n")
"""


def test_the_tests_of_one_group_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(GROUPED)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "pytest", "-n", "2", "--dist", "loadgroup"]
    command += ["-p", "tests.support.groups", "-p", "no:cacheprovider", "test_grouped.py"]
    result = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    ran = (tmp_path / "workers.txt").read_text().splitlines()
    assert len(ran) == 6
    assert len({line.split()[0] for line in ran}) == 1, ran
    assert all(line.endswith("@together") for line in ran), ran
