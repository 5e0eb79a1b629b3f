"""The layers of the architecture, checked: the pure model imports no Dask, database or
CLI, and every setting the code reads has a default in daskflow.yaml. Nothing in the
repository cites notes that are not in it, nor a path of it that does not exist."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import yaml

PACKAGE = Path(__file__).resolve().parents[1] / "daskflow"
FORBIDDEN_IN_PURE = ("dask", "distributed", "sqlalchemy", "alembic", "click", "bokeh",
                     "daskflow.execution", "daskflow.store", "daskflow.cli",
                     "daskflow.scheduler", "daskflow.dashboard", "daskflow.api")
#: The documented reaches from the model into execution: DAG.test(), which Airflow
#: users expect on the DAG itself, and DAG.submit() beside it; imported inside the methods.
ALLOWED = {("models/dag.py", "daskflow.execution.single_run"),
           ("models/dag.py", "daskflow.api.submit")}


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


ROOT = PACKAGE.parent
#: What the repository's own text is: docs, comments, docstrings and scripts.
CITING = ("README.md", "docs/**/*.md", "benchmarks/**/*.md", "benchmarks/**/*.py",
          "daskflow/**/*.py", "daskflow/**/*.yaml", "examples/**/*.py", "scripts/*",
          "pyproject.toml")
#: A relative path with at least one folder, ending in a file name with a known suffix.
CITED_PATH = re.compile(r"(?<![\w./{}<$-])((?:\.\./|\./)*(?:[A-Za-z_][\w.-]*/)+"
                        r"[\w.-]*\w\.(?:py|md|yaml|yml|toml|sh|cfg|txt|json|ini|mako))\b")
MARKDOWN_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _citing_files() -> list[Path]:
    found = {path for pattern in CITING for path in ROOT.glob(pattern) if path.is_file()}
    return sorted(p for p in found if "migrations/versions" not in str(p)
                  and not _ignored(p.relative_to(ROOT)))


def _ignored(relative: Path) -> bool:
    """Inside a folder the repository's .gitignore names (generated, never committed)."""
    folders = {line.strip().strip("/") for line in (ROOT / ".gitignore").read_text().splitlines()
               if line.strip().endswith("/") and not line.startswith("#")}
    return any("/".join(relative.parts[:i]) in folders for i in range(1, len(relative.parts)))


def _repository_folders() -> set[str]:
    """First path parts that make a path a citation of this repository's files."""
    tops = {p.name for p in ROOT.iterdir() if p.is_dir() and not p.name.startswith(".")}
    return tops | {p.name for p in PACKAGE.iterdir() if p.is_dir()} - {"__pycache__"}


def broken_citations(path: Path, text: str) -> list[str]:
    """Paths ``text`` (the contents of ``path``) cites that do not exist in the repository.

    A path counts when it starts with a folder of the repository (``docs/``,
    ``benchmarks/``, ``execution/`` for ``daskflow/execution/`` ...) or climbs out
    with ``../``; it may be written from the repository root, from ``daskflow/``
    or from the citing file's folder. Placeholders (``results/NAME.md``), a user's
    folders (``dags/etl.py``), other projects' files (``distributed/scheduler.py``)
    and files in folders git ignores do not count. In markdown, every relative
    link target must exist too.
    """
    folders = _repository_folders()
    broken = []
    for cited in CITED_PATH.findall(text):
        parts = Path(cited).parts
        first = next((p for p in parts if p not in (".", "..")), "")
        if ".." not in parts and first not in folders:
            continue
        if ".." not in parts and any(p.isupper() for p in Path(cited).with_suffix("").parts):
            continue  # a placeholder: NAME, DIR
        places = [ROOT / cited, PACKAGE / cited, path.parent / cited]
        inside = [p.resolve() for p in places if p.resolve().is_relative_to(ROOT)]
        if any(p.exists() or _ignored(p.relative_to(ROOT)) for p in inside):
            continue
        broken.append(cited)
    if path.suffix == ".md":
        for target in MARKDOWN_LINK.findall(text):
            if "://" in target or target.startswith("mailto:"):
                continue
            resolved = (path.parent / target).resolve()
            if not (resolved.is_relative_to(ROOT) and resolved.exists()):
                broken.append(target)
    return broken


def test_nothing_cites_notes_that_are_not_in_the_repository():
    citing = []
    for path in _citing_files() + sorted((ROOT / "tests").rglob("*.py")):
        if path == Path(__file__):
            continue
        text = path.read_text(errors="replace")
        citing += [f"{path.relative_to(ROOT)} cites {name}" for name in
                   ("DESIGN.md", "DASK_NOTES.md", "STYLE.md") if name in text
                   and not (ROOT / name).exists()]
    assert citing == []


def test_no_doc_comment_or_docstring_cites_a_repository_path_that_is_not_there():
    broken = []
    for path in _citing_files():
        broken += [f"{path.relative_to(ROOT)} cites {cited}"
                   for cited in broken_citations(path, path.read_text(errors="replace"))]
    assert broken == []


def test_a_citation_of_a_missing_file_is_found_wherever_it_is_written():
    doc = ROOT / "docs" / "x.md"
    assert broken_citations(doc, "See docs/tutorial.md and execution/run.py.") == []
    assert broken_citations(doc, "[the loop](../daskflow/scheduler/loop.py)") == []
    assert broken_citations(doc, "See docs/nowhere.md, execution/bar.py, "
                                 "`benchmarks/x.py`.") == ["docs/nowhere.md",
                                                           "execution/bar.py",
                                                           "benchmarks/x.py"]
    assert broken_citations(doc, "[notes](../../shared/DESIGN.md)") == [
        "../../shared/DESIGN.md", "../../shared/DESIGN.md"]
    assert broken_citations(doc, "[how](concepts.md) [gone](gone.md)") == ["gone.md"]
    # Not the repository's files: a user's folder, another project, a placeholder.
    assert broken_citations(doc, "dags/etl.py, distributed/scheduler.py, "
                                 "benchmarks/results/NAME.md") == []

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
    for user in ("execution/single_run.py", "execution/submitter.py", "scheduler/loop.py"):
        assert "daskflow.execution.runner" in _imports(PACKAGE / user), user
    assert "daskflow.scheduler.loop" in _imports(PACKAGE / "cli/backfill.py")
