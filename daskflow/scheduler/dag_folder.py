"""The DAG folder as the loop sees it: parsed at start, re-parsed as files change.

Every file is parsed on its own, in a thread with a time limit
(``daskflow.parse-timeout``): a file that raises, or hangs, becomes an import
error with its traceback and the other files load as usual. Only files whose
modification time or size changed are parsed again. A DAG whose file is gone
(or no longer defines it) is marked inactive in the store, its history kept.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from daskflow.scheduler.dag_sync import dag_record, save_version
from daskflow.scheduler.dagbag import DagBag


@dataclass
class FileState:
    signature: tuple[float, int]
    dag_ids: list[str] = field(default_factory=list)


@dataclass
class FolderChanges:
    """What one refresh found; ``changed`` lists DAG ids (re)loaded."""

    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)


class DagFolder:
    """The DAGs of one folder, kept current with the files and synced to the store."""

    def __init__(self, folder: str | Path, store: Any, parse_timeout: float = 30.0) -> None:
        self.folder = Path(folder).expanduser().resolve()
        self.store = store
        self.parse_timeout = parse_timeout
        self.dags: dict[str, Any] = {}
        self.versions: dict[str, str] = {}
        self.files: dict[str, FileState] = {}
        self.errors: dict[str, str] = {}
        self._synced_errors: dict[str, str] | None = None

    def refresh(self) -> FolderChanges:
        """Parse new and changed files, forget removed ones, write the results."""
        changes = FolderChanges()
        present = self._scan()
        for path in sorted(set(self.files) - set(present)):
            changes.removed.extend(self._forget(path))
        for path, signature in present.items():
            known = self.files.get(path)
            if known is None or known.signature != signature:
                changes.changed.extend(self._parse(path, signature, changes))
        if changes.changed or changes.removed or self.errors != self._synced_errors:
            self._sync(changes)
        return changes

    def _scan(self) -> dict[str, tuple[float, int]]:
        if self.folder.is_file():
            paths = [self.folder]
        else:
            paths = [p for p in self.folder.rglob("*.py") if not p.name.startswith(("_", "."))]
        found = {}
        for path in paths:
            try:
                stat = path.stat()
            except OSError:
                continue
            found[str(path)] = (stat.st_mtime, stat.st_size)
        return found

    def _forget(self, path: str) -> list[str]:
        state = self.files.pop(path, None)
        self.errors.pop(path, None)
        gone = state.dag_ids if state else []
        for dag_id in gone:
            self.dags.pop(dag_id, None)
        return gone

    def _parse(self, path: str, signature: tuple[float, int], changes: FolderChanges
               ) -> list[str]:
        previous = self.files.get(path)
        bag = DagBag(self.folder)
        error = _load_with_timeout(bag, Path(path), self.parse_timeout)
        if error is None:
            error = bag.import_errors.get(path)
        for dag_id in previous.dag_ids if previous else []:
            self.dags.pop(dag_id, None)
        if error is not None:
            self.errors[path] = changes.errors[path] = error
            self.files[path] = FileState(signature, [])
            return []
        self.errors.pop(path, None)
        loaded = [d for d in bag.dags.values() if not _taken(self.dags, d, path)]
        for dag in loaded:
            self.dags[dag.dag_id] = dag
            self.versions[dag.dag_id] = save_version(self.store, dag, bag.sources[dag.dag_id])
        self.files[path] = FileState(signature, [d.dag_id for d in loaded])
        return [d.dag_id for d in loaded]

    def _sync(self, changes: FolderChanges) -> None:
        self.store.sync_dags([dag_record(self.dags[d]) for d in changes.changed])
        self.store.mark_inactive(set(self.dags), fileloc=None)
        self.store.set_import_errors(self.errors, clear_others_under=str(self.folder))
        self._synced_errors = dict(self.errors)


def _taken(dags: dict[str, Any], dag: Any, path: str) -> bool:
    other = dags.get(dag.dag_id)
    return other is not None and other.fileloc != path


def _load_with_timeout(bag: DagBag, path: Path, timeout: float) -> str | None:
    """Load one file in a thread; an error text if it did not finish in time."""
    done = threading.Event()

    def load() -> None:
        try:
            bag.load_file(path)
        finally:
            done.set()

    thread = threading.Thread(target=load, name=f"daskflow-parse-{path.name}", daemon=True)
    thread.start()
    if not done.wait(timeout):
        return (f"DagImportError: parsing {path} took longer than {timeout:g}s "
                "(daskflow.parse-timeout); it is skipped until the file changes\n")
    return None
