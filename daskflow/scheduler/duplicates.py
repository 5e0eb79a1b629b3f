"""One DAG id, one file: a DAG id defined in several files is an error of each of them.

Picking one of the files (the first listed, the first parsed) would make
which code runs depend on a directory listing or on parse timing, and
would differ between the loop, which parses as files change, and the CLI,
which parses everything at once. So the DAG is loaded from none of them,
every one of those files gets an import error naming all of them, and the
files' other DAGs load as usual. Fixing any file (or removing it) brings the
DAG back from the one file left, without touching that file.

    >>> owner, errors = resolve({"/d/a.py": ["x", "y"], "/d/b.py": ["x"], "/d/c.py": ["z"]})
    >>> owner
    {'y': '/d/a.py', 'z': '/d/c.py'}
    >>> sorted(errors)
    ['/d/a.py', '/d/b.py']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from daskflow.scheduler import import_errors


def resolve(dag_ids_by_file: Mapping[str, Sequence[str]]
            ) -> tuple[dict[str, str], dict[str, str]]:
    """Which file each DAG id loads from, and the error text of each file with a clash."""
    files_of: dict[str, list[str]] = {}
    for path in sorted(dag_ids_by_file):
        for dag_id in dag_ids_by_file[path]:
            files_of.setdefault(dag_id, []).append(path)
    owner: dict[str, str] = {}
    errors: dict[str, str] = {}
    for dag_id, paths in sorted(files_of.items()):
        if len(paths) == 1:
            owner[dag_id] = paths[0]
            continue
        for path in paths:
            errors[path] = errors.get(path, "") + import_errors.duplicate(dag_id, paths)
    return owner, errors


@dataclass
class Composed:
    """The DAGs a set of parsed files yields once clashes are removed, and every error."""

    dags: dict[str, Any] = field(default_factory=dict)
    owner: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def compose(files: Mapping[str, Any]) -> Composed:
    """From ``{path: FileParse}``: the DAGs to use, the file of each, each file's error."""
    owner, clashes = resolve({path: [d.dag_id for d in parsed.dags]
                              for path, parsed in files.items()})
    dags = {}
    for path in sorted(files):
        for dag in files[path].dags:
            if owner.get(dag.dag_id) == path:
                dags[dag.dag_id] = dag
    errors = {path: parsed.error for path, parsed in files.items() if parsed.error is not None}
    errors.update(clashes)
    return Composed(dags, owner, dict(sorted(errors.items())))
