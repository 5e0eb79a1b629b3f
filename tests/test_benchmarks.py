"""Benchmark scripts replace the committed results only when ``--out`` says so.

Trying a benchmark must never change the figures the docs quote: without
``--out`` a script writes to ``benchmarks/results/local/``, which git ignores.
No benchmark is run here; the scripts' own argument parsers and output paths are.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))
#: The scripts that write a results file, by the name they write it under.
WRITERS = ("fault_injection", "loop_cost", "overhead", "schedule_latency", "submit")


def _load(path: Path) -> ModuleType:
    name = f"_bench_{path.stem}"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _ignored_by_git(relative: Path) -> bool:
    """Whether a line of the repository's .gitignore ignores ``relative`` (a folder prefix)."""
    lines = (ROOT / ".gitignore").read_text().splitlines()
    patterns = {line.strip().strip("/") for line in lines if line.strip()
                and not line.startswith(("#", "!"))}
    parts = relative.parts
    return any("/".join(parts[:i]) in patterns for i in range(1, len(parts)))


def test_every_script_that_writes_results_is_listed_here():
    writing = {p.stem for p in SCRIPTS if "write_result(" in p.read_text()}
    assert writing == set(WRITERS)


@pytest.mark.parametrize("name", WRITERS)
def test_without_out_a_benchmark_writes_only_where_git_ignores_it(name):
    bench = _load(BENCHMARKS / "_loopbench.py")
    args = _load(BENCHMARKS / f"{name}.py").parser().parse_args([])
    assert args.out is None

    path = bench.result_path(name, args.out).resolve()
    committed = {p.resolve() for p in (BENCHMARKS / "results").glob("*.md")}
    assert path not in committed
    assert path.is_relative_to(BENCHMARKS / "results" / "local")
    assert _ignored_by_git(path.relative_to(ROOT))


@pytest.mark.parametrize("name", WRITERS)
def test_out_names_the_file_a_benchmark_writes(name, tmp_path):
    bench = _load(BENCHMARKS / "_loopbench.py")
    target = tmp_path / f"{name}.md"
    args = _load(BENCHMARKS / f"{name}.py").parser().parse_args(["--out", str(target)])
    assert bench.result_path(name, args.out) == target
    assert bench.write_result(name, "figures\n", args.out) == target
    assert target.read_text() == "figures\n"


def test_no_script_builds_its_own_path_into_the_results_folder():
    """Only ``_loopbench.result_path`` knows where results go, so no script bypasses it."""
    offending = []
    for path in SCRIPTS:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div):
                operands = (node.left, node.right)
                if any(isinstance(o, ast.Constant) and isinstance(o.value, str)
                       and o.value.startswith("results") for o in operands):
                    offending.append(f"{path.name}:{node.lineno}")
            if isinstance(node, ast.Name) and node.id in ("RESULTS", "LOCAL_RESULTS"):
                offending.append(f"{path.name}:{node.lineno} uses {node.id}")
    assert offending == []


def test_a_git_ignore_check_tells_folders_apart():
    assert _ignored_by_git(Path("build/lib/x.py"))
    assert not _ignored_by_git(Path("benchmarks/results/overhead.md"))


def test_the_benchmarks_readme_has_a_section_on_every_script():
    readme = (BENCHMARKS / "README.md").read_text()
    sections = dict(re.findall(r"^### (\S+)\n(.*?)(?=^#|\Z)", readme, re.M | re.S))
    assert set(sections) == {p.name for p in SCRIPTS}
    for name, text in sections.items():
        assert f"python benchmarks/{name}" in text, f"{name}: no command to run it"
        if Path(name).stem in WRITERS:
            assert "--quick" in text and "--out" in text, f"{name}: no --quick or --out"
    assert "benchmarks/results/local/" in readme
