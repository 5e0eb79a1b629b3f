"""The layers of the architecture, checked: the pure model imports no Dask, database or
CLI, and every setting the code reads has a default in daskflow.yaml. Nothing in the
repository cites notes that are not in it."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

PACKAGE = Path(__file__).resolve().parents[1] / "daskflow"
FORBIDDEN_IN_PURE = ("dask", "distributed", "sqlalchemy", "alembic", "click", "bokeh",
                     "daskflow.execution", "daskflow.store", "daskflow.cli",
                     "daskflow.scheduler", "daskflow.dashboard")
#: The one documented reach from the model into execution: DAG.test(), which Airflow
#: users expect on the DAG itself; imported inside the method.
ALLOWED = {("models/dag.py", "daskflow.execution.single_run")}


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_the_pure_model_and_schedules_import_no_outer_layer():
    offending = []
    for folder in ("models", "schedule"):
        for path in sorted((PACKAGE / folder).rglob("*.py")):
            relative = str(path.relative_to(PACKAGE))
            for name in _imports(path):
                hit = any(name == f or name.startswith(f + ".") for f in FORBIDDEN_IN_PURE)
                if hit and (relative, name) not in ALLOWED:
                    offending.append(f"{relative} imports {name}")
    assert offending == []


def test_store_and_models_do_not_import_the_cli_or_the_loop():
    for folder in ("store", "execution"):
        for path in (PACKAGE / folder).rglob("*.py"):
            for name in _imports(path):
                assert not name.startswith(("daskflow.cli", "click")), f"{path} imports {name}"


def test_every_setting_read_has_a_default():
    defaults = yaml.safe_load((PACKAGE / "daskflow.yaml").read_text())["daskflow"]
    read = set()
    for path in PACKAGE.rglob("*.py"):
        read |= set(re.findall(r'config\.get\(\s*"([a-z0-9_.-]+)"', path.read_text()))
        read |= {f"notifications.{n}" for n in
                 re.findall(r'_(?:flag|number)\(\s*"([a-z0-9_.-]+)"', path.read_text())}
    missing = []
    for key in sorted(read):
        node = defaults
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                missing.append(key)
                break
            node = node[part]
    assert missing == []


def test_nothing_cites_notes_that_are_not_in_the_repository():
    root = PACKAGE.parent
    citing = []
    for folder in ("daskflow", "tests", "docs", "benchmarks", "examples", "scripts"):
        for path in (root / folder).rglob("*"):
            if path.is_file() and path.suffix in (".py", ".md", ".sh", ".yaml", ".toml") \
                    and path != Path(__file__):
                text = path.read_text(errors="replace")
                citing += [f"{path.relative_to(root)} cites {name}" for name in
                           ("DESIGN.md", "DASK_NOTES.md", "STYLE.md") if name in text
                           and not (root / name).exists()]
    assert citing == []


def test_runs_are_driven_from_one_place():
    """Only the runner builds what driving a run takes; dag.test, the loop and backfills
    reach it through it, so heartbeats, fencing, timers and callbacks exist once."""
    builders = {"Driver", "Ownership", "Recorder"}
    built_in = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in builders:
                built_in.add(str(path.relative_to(PACKAGE)))
    assert built_in == {"execution/runner.py"}
    for user in ("execution/single_run.py", "scheduler/loop.py"):
        assert "daskflow.execution.runner" in _imports(PACKAGE / user), user
    assert "daskflow.scheduler.loop" in _imports(PACKAGE / "cli/backfill.py")
