"""Bokeh stays inside ``daskflow/dashboard/``: nothing else imports it (but the plot file
``daskflow bench`` writes, which is a static HTML page, not a dashboard page), and what the
embedded cluster and the CLI import of the dashboard imports no Bokeh either."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "daskflow"
#: Besides the dashboard: the benchmark suite's plot, written to a file.
ALLOWED = {"bench/plot.py"}


def _imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_only_the_dashboard_imports_bokeh():
    offending = [str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                 if "dashboard" not in path.parts
                 and str(path.relative_to(PACKAGE)) not in ALLOWED
                 and any(n == "bokeh" or n.startswith("bokeh.") for n in _imports(path))]
    assert offending == []


@pytest.mark.slow
def test_the_store_access_and_mounting_modules_load_without_bokeh():
    code = ("import sys; import daskflow.dashboard.store_access, daskflow.dashboard.mounting, "
            "daskflow.execution.single_run; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] == 'bokeh'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
