"""Which files of a DAG folder are DAG files: the ones never to execute are left out here.

Walking the folder, a directory is not entered when its name starts with
``.`` or ``_`` (``.git``, ``.venv``, ``__pycache__``, ``_helpers``) or is
``node_modules``; a file is skipped when its name starts with ``.`` or ``_``
or does not end in ``.py``. Pruning happens before descending, so a virtual
environment inside the folder costs nothing and none of its files is ever
imported.

A ``.daskflowignore`` file lists more paths to leave out, one glob pattern a
line, with the meaning of ``.gitignore`` patterns (and of Airflow 3's
``.airflowignore`` in its default ``glob`` syntax):

- blank lines and lines starting with ``#`` are ignored; ``\\#`` and ``\\!``
  start a pattern with a literal ``#`` or ``!``;
- ``*`` matches anything but ``/``, ``?`` one character but ``/``, ``[a-z]``
  one character of a set (``[!a-z]`` one outside it);
- a pattern with no ``/`` but a trailing one (``tmp``, ``*_old.py``, ``build/``)
  matches a name at any depth below the ignore file's directory; a pattern
  with a ``/`` at its start or in its middle is relative to that directory
  (``/legacy.py``, ``team_a/drafts``);
- ``**/`` matches any number of directories, ``/**`` everything inside;
- a trailing ``/`` matches directories only;
- ``!pattern`` takes a path matched by an earlier pattern back, unless a
  directory above it is ignored (its files are never looked at).

A ``.daskflowignore`` applies to its own directory and every one below it;
patterns of deeper files come later, so they win over those of shallower
ones, as with ``.gitignore``::

    >>> rules = parse_patterns("*_draft.py\\n!keep_draft.py\\n/scratch/\\n")
    >>> [ignored(rules, name, is_dir=False) for name in ("a_draft.py", "keep_draft.py")]
    [True, False]
    >>> ignored(rules, "scratch", is_dir=True), ignored(rules, "team/scratch", is_dir=True)
    (True, False)
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger("daskflow.scheduler")

IGNORE_FILE = ".daskflowignore"
#: Directory names never entered, besides those starting with "." or "_".
SKIPPED_DIRECTORIES = frozenset({"node_modules"})


@dataclass(frozen=True)
class Pattern:
    """One line of an ignore file, compiled."""

    text: str
    regex: re.Pattern[str]
    negated: bool
    directories_only: bool

    def matches(self, relative: str, is_dir: bool) -> bool:
        """Whether ``relative`` (``/``-separated, from the ignore file's directory) matches."""
        if self.directories_only and not is_dir:
            return False
        return self.regex.fullmatch(relative) is not None


def parse_patterns(text: str) -> list[Pattern]:
    """The patterns of an ignore file's text, in order."""
    patterns = []
    for line in text.splitlines():
        pattern = _compile(line)
        if pattern is not None:
            patterns.append(pattern)
    return patterns


def ignored(patterns: Iterable[Pattern], relative: str, is_dir: bool) -> bool:
    """Whether the last pattern matching ``relative`` ignores it (no match: not ignored)."""
    return verdict(patterns, relative, is_dir) is True


def verdict(patterns: Iterable[Pattern], relative: str, is_dir: bool) -> bool | None:
    """True if the last matching pattern ignores the path, False if it takes it back
    (``!``), None if no pattern matches."""
    last = None
    for pattern in patterns:
        if pattern.matches(relative, is_dir):
            last = not pattern.negated
    return last


def _compile(line: str) -> Pattern | None:
    text = line.rstrip()
    if not text or text.startswith("#"):
        return None
    negated = text.startswith("!")
    body = text[1:] if negated else text
    if body.startswith(("\\#", "\\!")):
        body = body[1:]
    directories_only = body.endswith("/")
    body = body.rstrip("/")
    if not body:
        return None
    anchored = "/" in body
    body = body.lstrip("/")
    regex = _translate(body)
    if not anchored:
        regex = f"(?:.*/)?{regex}"  # a bare name matches at any depth
    try:
        compiled = re.compile(regex, re.DOTALL)
    except re.error as exc:
        logger.warning("ignore pattern %r is not a valid glob (%s); it is skipped", text, exc)
        return None
    return Pattern(text, compiled, negated, directories_only)


def _translate(glob: str) -> str:
    """A regular expression matching what ``glob`` matches (the whole relative path)."""
    out = []
    i = 0
    while i < len(glob):
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")  # zero or more directories
            i += 3
        elif glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("/.*")  # everything inside
            i += 3
        elif glob.startswith("**", i):
            out.append(".*" if i + 2 == len(glob) else "[^/]*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[":
            klass, i = _character_class(glob, i)
            out.append(klass)
        elif glob[i] == "\\" and i + 1 < len(glob):
            out.append(re.escape(glob[i + 1]))
            i += 2
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


def _character_class(glob: str, start: int) -> tuple[str, int]:
    """``[...]`` at ``start`` as a regex class and the index after it; a lone ``[`` is literal.

    As in ``fnmatch``, a ``]`` right after ``[`` (or ``[!``) belongs to the set.
    """
    first = start + 1
    negate = glob[first:first + 1] in ("!", "^")
    if negate:
        first += 1
    end = glob.find("]", first + 1)
    if end == -1:
        return re.escape("["), start + 1
    inside = glob[first:end]
    for special in ("\\", "^", "[", "]"):
        inside = inside.replace(special, "\\" + special)
    return f"[{'^/' if negate else ''}{inside}]", end + 1


# -- walking a folder -----------------------------------------------------------------------
def dag_files(folder: Path) -> list[Path]:
    """The DAG files of ``folder`` (a file is its own only DAG file), sorted.

    Symbolic links to directories are followed, each real directory once.
    """
    if folder.is_file():
        return [folder]
    if not folder.is_dir():
        return []
    found: list[Path] = []
    seen: set[str] = set()
    _walk(folder, [], seen, found)
    return sorted(found)


def _walk(directory: Path, rules: list[tuple[Path, list[Pattern]]], seen: set[str],
          found: list[Path]) -> None:
    real = os.path.realpath(directory)
    if real in seen:
        return
    seen.add(real)
    rules = rules + [(directory, _read_rules(directory / IGNORE_FILE))]
    try:
        entries = sorted(os.scandir(directory), key=lambda e: e.name)
    except OSError as exc:
        logger.warning("cannot list %s (%s); its DAG files are skipped", directory, exc)
        return
    for entry in entries:
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()
        except OSError:
            continue
        if entry.name.startswith((".", "_")) or _ignored_by(rules, path, is_dir):
            continue
        if is_dir:
            if entry.name not in SKIPPED_DIRECTORIES:
                _walk(path, rules, seen, found)
        elif entry.name.endswith(".py"):
            found.append(path)


def _ignored_by(rules: list[tuple[Path, list[Pattern]]], path: Path, is_dir: bool) -> bool:
    """Deeper ignore files come later in ``rules``: their last match wins."""
    last = None
    for base, patterns in rules:
        found = verdict(patterns, path.relative_to(base).as_posix(), is_dir)
        last = last if found is None else found
    return last is True


def _read_rules(path: Path) -> list[Pattern]:
    try:
        return parse_patterns(path.read_text(errors="replace"))
    except FileNotFoundError:
        return []
    except OSError as exc:
        logger.warning("cannot read %s (%s); its patterns are not applied", path, exc)
        return []
