"""Which paths of a DAG folder are never executed: the patterns as a table, then real folders."""

from __future__ import annotations

from pathlib import Path

import pytest

from daskflow.scheduler.ignore import dag_files, ignored, parse_patterns

# (patterns, relative path, is a directory, ignored?)
CASES = [
    # a bare name matches at any depth, files and directories alike
    ("tmp.py", "tmp.py", False, True),
    ("tmp.py", "team/tmp.py", False, True),
    ("tmp.py", "team/tmp.py.bak", False, False),
    ("scratch", "scratch", True, True),
    ("scratch", "a/b/scratch", True, True),
    # * and ? stay within one path segment
    ("*_old.py", "etl_old.py", False, True),
    ("*_old.py", "deep/er/etl_old.py", False, True),
    ("*_old.py", "etl_old.pyc", False, False),
    ("team_?.py", "team_a.py", False, True),
    ("team_?.py", "team_ab.py", False, False),
    ("a*z", "a/z", False, False),
    # character classes, negated with ! or ^, a ] first belongs to the set
    ("tenant_[0-9].py", "tenant_7.py", False, True),
    ("tenant_[0-9].py", "tenant_x.py", False, False),
    ("tenant_[!0-9].py", "tenant_x.py", False, True),
    ("tenant_[!0-9].py", "tenant_7.py", False, False),
    ("x[]]y.py", "x]y.py", False, True),
    ("lone[bracket.py", "lone[bracket.py", False, True),
    # a slash at the start or in the middle anchors the pattern to the ignore file's folder
    ("/legacy.py", "legacy.py", False, True),
    ("/legacy.py", "team/legacy.py", False, False),
    ("team/drafts", "team/drafts", True, True),
    ("team/drafts", "other/team/drafts", True, False),
    ("team/*.py", "team/etl.py", False, True),
    ("team/*.py", "team/sub/etl.py", False, False),
    # ** spans directories
    ("**/fixtures", "fixtures", True, True),
    ("**/fixtures", "a/b/fixtures", True, True),
    ("team/**/gen_*.py", "team/gen_a.py", False, True),
    ("team/**/gen_*.py", "team/x/y/gen_a.py", False, True),
    ("team/**/gen_*.py", "other/gen_a.py", False, False),
    ("vendor/**", "vendor/lib/mod.py", False, True),
    ("vendor/**", "vendor", True, False),
    # a trailing slash matches directories only
    ("build/", "build", True, True),
    ("build/", "build", False, False),
    ("build/", "src/build", True, True),
    # the last matching pattern wins; ! takes a path back
    ("*_draft.py\n!keep_draft.py", "keep_draft.py", False, False),
    ("*_draft.py\n!keep_draft.py", "old_draft.py", False, True),
    ("!keep_draft.py\n*_draft.py", "keep_draft.py", False, True),
    # comments, blank lines, escapes, trailing spaces
    ("# a comment\n\n  \n", "a comment", False, False),
    ("\\#hash.py", "#hash.py", False, True),
    ("\\!bang.py", "!bang.py", False, True),
    ("spaced.py   ", "spaced.py", False, True),
    # dots are literal, not regex wildcards
    ("a.py", "abpy", False, False),
]


@pytest.mark.parametrize(("patterns", "relative", "is_dir", "expected"), CASES)
def test_patterns(patterns: str, relative: str, is_dir: bool, expected: bool) -> None:
    assert ignored(parse_patterns(patterns), relative, is_dir) is expected


def test_an_invalid_pattern_is_skipped_and_the_others_apply() -> None:
    patterns = parse_patterns("bad[z-a].py\nold.py\n")
    assert [p.text for p in patterns] == ["old.py"]


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _names(root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in dag_files(root)]


def test_hidden_private_and_vendored_folders_are_not_entered(tmp_path: Path) -> None:
    _tree(tmp_path, {name: "" for name in [
        "etl.py", "team/report.py", "notes.txt", "_private.py", ".hidden.py",
        ".venv/lib/site.py", ".git/hooks/x.py", "__pycache__/etl.py", "_helpers/common.py",
        "node_modules/pkg/index.py", "team/_shared/util.py"]})
    assert _names(tmp_path) == ["etl.py", "team/report.py"]


def test_an_ignore_file_applies_to_its_folder_and_below(tmp_path: Path) -> None:
    _tree(tmp_path, {
        ".daskflowignore": "# top level\n*_old.py\n/scratch/\n",
        "etl.py": "", "etl_old.py": "", "scratch/try.py": "", "team/scratch/keep.py": "",
        "team/.daskflowignore": "!report_old.py\n/drafts\n",
        "team/report_old.py": "", "team/drafts/wip.py": "", "team/etl_old.py": "",
        "drafts/top.py": "",
    })
    assert _names(tmp_path) == ["drafts/top.py", "etl.py", "team/report_old.py",
                                "team/scratch/keep.py"]


def test_a_file_of_an_ignored_folder_cannot_be_taken_back(tmp_path: Path) -> None:
    _tree(tmp_path, {".daskflowignore": "old/\n!old/keep.py\n", "old/keep.py": "", "a.py": ""})
    assert _names(tmp_path) == ["a.py"]


def test_a_folder_linked_into_itself_is_walked_once(tmp_path: Path) -> None:
    _tree(tmp_path, {"team/etl.py": ""})
    (tmp_path / "team" / "loop").symlink_to(tmp_path / "team", target_is_directory=True)
    assert _names(tmp_path) == ["team/etl.py"]


def test_a_single_file_is_its_own_dag_file_and_a_missing_folder_has_none(tmp_path: Path
                                                                         ) -> None:
    _tree(tmp_path, {"_odd_name.py": ""})
    assert dag_files(tmp_path / "_odd_name.py") == [tmp_path / "_odd_name.py"]
    assert dag_files(tmp_path / "missing") == []
