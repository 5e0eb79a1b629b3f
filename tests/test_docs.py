"""The docs say what the repository holds.

Every figure that a passage of the README or docs/performance.md quotes next to
a benchmark results file it cites is in that file (commands and names in
backticks are not figures); no doc compares speed with Airflow unless a script
in benchmarks/ measures Airflow; and the README tells how to run the quick
subset of the tests and that its own test command runs all of them.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS_LINK = re.compile(r"benchmarks/results/(?!local/)[\w.\-/]+\.md")
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")
MARKDOWN_LINK_TARGET = re.compile(r"\]\([^)]*\)")
INLINE_CODE = re.compile(r"`[^`]*`")
#: How long a command runs ("about 4 minutes") is said about the script, not taken from a file.
RUN_TIME = re.compile(r"\d+(?:-\d+)? minutes?\b")
ITEM_START = re.compile(r"^\s*(?:[-*]|\d+\.)\s")


def passages(text: str) -> list[str]:
    """Paragraphs and list items of a markdown text (code blocks left out)."""
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    found = []
    for block in re.split(r"\n\s*\n", text):
        current: list[str] = []
        for line in block.splitlines():
            if ITEM_START.match(line) and current:
                found.append("\n".join(current))
                current = []
            current.append(line)
        if current:
            found.append("\n".join(current))
    return found


def numbers(text: str) -> set[str]:
    """Every number in ``text``, thousands separators dropped (1,002 -> 1002)."""
    return {n.rstrip(",").replace(",", "") for n in NUMBER.findall(text)}


def unbacked_figures(text: str) -> list[str]:
    """Figures of passages citing results files that none of the files cited holds."""
    problems = []
    for passage in passages(text):
        cited = sorted(set(RESULTS_LINK.findall(passage)))
        if not cited:
            continue
        missing = [c for c in cited if not (ROOT / c).is_file()]
        if missing:
            problems.append(f"cites missing {missing}: {passage[:60]!r}")
            continue
        held = set().union(*(numbers((ROOT / c).read_text()) for c in cited))
        prose = INLINE_CODE.sub("", MARKDOWN_LINK_TARGET.sub("]", passage))
        prose = RUN_TIME.sub("", RESULTS_LINK.sub("", prose))
        problems += [f"{n} (passage {passage[:60]!r}) is not in {', '.join(cited)}"
                     for n in sorted(numbers(prose) - held)]
    return problems


@pytest.mark.parametrize("doc", ["README.md", "docs/performance.md"])
def test_every_figure_next_to_a_results_file_it_cites_is_in_that_file(doc):
    text = (ROOT / doc).read_text()
    assert RESULTS_LINK.search(text), f"{doc} cites no results file any more"
    assert unbacked_figures(text) == []


def test_the_figure_check_catches_a_figure_the_file_does_not_hold():
    held = (ROOT / "benchmarks/results/overhead.md").read_text()
    chain = re.search(r"^\| chain \|.*?\| (\d+\.\d+)x \|", held, re.M).group(1)
    assert unbacked_figures(f"- {chain}x for a chain ([r](benchmarks/results/overhead.md))") == []
    assert unbacked_figures("- 7.8 ms per link ([r](benchmarks/results/overhead.md))") == [
        "7.8 (passage '- 7.8 ms per link ([r](benchmarks/results/overhead.md))') is not in "
        "benchmarks/results/overhead.md"]
    assert unbacked_figures("Run `overhead.py --repeat 5` (about 4 minutes; "
                            "benchmarks/results/overhead.md)") == []
    assert unbacked_figures("Took 3 s (benchmarks/results/nothing.md).") == [
        "cites missing ['benchmarks/results/nothing.md']: "
        "'Took 3 s (benchmarks/results/nothing.md).'"]


def airflow_speed_claims(text: str) -> list[str]:
    """Sentences naming Airflow next to a duration or a speed ratio."""
    sentences = [s for passage in passages(text) for s in re.split(r"(?<=[.!?])\s+", passage)]
    return [s for s in sentences if "Airflow" in s
            and re.search(r"\d(?:[\d.,]*\d)?\s*(?:ms|us|µs|s|x)\b|faster|slower", s)]


def test_no_doc_compares_speed_with_airflow_unless_a_benchmark_measures_airflow():
    measures_airflow = any(re.search(r"^\s*(?:import|from) airflow\b", p.read_text(), re.M)
                           for p in (ROOT / "benchmarks").rglob("*.py"))
    claims = [f"{doc.relative_to(ROOT)}: {claim!r}"
              for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
              for claim in airflow_speed_claims(doc.read_text())]
    assert measures_airflow or claims == []


def test_the_airflow_check_finds_a_timing_claim():
    assert airflow_speed_claims("- Airflow's `dag.test` took 93-147 ms per task.")
    assert airflow_speed_claims("daskflow is 40x faster than Airflow.")
    assert not airflow_speed_claims("Airflow adds a random amount per task instance.")


def test_the_readme_says_how_to_run_the_quick_tests_and_what_all_of_them_cost():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("Run the tests"):]
    section = section[:section.index("\n## ")]
    assert "bash scripts/test.sh" in section
    assert '-m "not slow"' in section
    assert re.search(r"\d+ minutes", section)
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci and "not slow" not in ci
    assert "not slow" not in (ROOT / "scripts" / "test.sh").read_text()
